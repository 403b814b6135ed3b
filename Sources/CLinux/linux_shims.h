// Layer 1: the Linux file-system interfaces that Swift's Glibc module does not
// export (statfs, xattr, fallocate, FIEMAP, O_TMPFILE, statx's atomic-write
// fields, pwritev2). Only declarations and constants, such as the ioctl
// request numbers whose _IOWR() macros Swift cannot import, and static inline
// shims for the calls Swift cannot make (flock by name, variadic syscall).
#ifndef SWIFT_PMEM_CLINUX_SHIMS_H
#define SWIFT_PMEM_CLINUX_SHIMS_H

#include <fcntl.h>
#include <sys/types.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <sys/file.h>
#include <linux/fs.h>
#include <linux/fiemap.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/uio.h>

// Declared by <fcntl.h> only under _GNU_SOURCE.
extern int fallocate(int fd, int mode, off_t offset, off_t len);

// O_TMPFILE is declared by <fcntl.h> only under _GNU_SOURCE.
static const int clinux_O_TMPFILE = __O_TMPFILE;

// flock(2): Swift sees only `struct flock` under that name.
static inline int clinux_flock(int fd, int operation) { return flock(fd, operation); }

static const unsigned long clinux_FS_IOC_FIEMAP = FS_IOC_FIEMAP;
static const unsigned long clinux_FICLONE = FICLONE;
static const unsigned long clinux_FS_IOC_GETFLAGS = FS_IOC_GETFLAGS;
static const unsigned long clinux_FS_IOC_SETFLAGS = FS_IOC_SETFLAGS;

// statx(2) with STATX_WRITE_ATOMIC (Linux 6.11; unit_max_opt 6.16). Debian 12's
// glibc 2.36 headers have neither the mask nor the fields, so the call goes
// through syscall(2) (variadic: Swift cannot call it) into a 256-byte buffer
// read at the kernel's offsets: stx_mask 0, stx_attributes 8,
// stx_atomic_write_unit_min 168, _unit_max 172, _segments_max 176,
// _unit_max_opt 184. A kernel fills only what it knows and leaves the rest 0.
static const uint32_t clinux_STATX_WRITE_ATOMIC = 0x00010000U;
static const uint64_t clinux_STATX_ATTR_DAX = 0x00200000ULL;
static const uint64_t clinux_STATX_ATTR_WRITE_ATOMIC = 0x00400000ULL;

struct clinux_statx_atomic_write {
    uint32_t mask;          // stx_mask: which fields the kernel filled
    uint64_t attributes;    // stx_attributes
    uint32_t unit_min;
    uint32_t unit_max;
    uint32_t segments_max;
    uint32_t unit_max_opt;  // 0 where the kernel does not report it
};

// 0, or -1 with errno set.
static inline int clinux_statx_atomic_write(int fd, struct clinux_statx_atomic_write *out) {
    unsigned char buffer[256] __attribute__((aligned(8)));
    memset(buffer, 0, sizeof buffer);
    if (syscall(SYS_statx, fd, "", 0x1000 /* AT_EMPTY_PATH */, clinux_STATX_WRITE_ATOMIC, buffer) != 0) return -1;
    memcpy(&out->mask, buffer + 0, 4);
    memcpy(&out->attributes, buffer + 8, 8);
    memcpy(&out->unit_min, buffer + 168, 4);
    memcpy(&out->unit_max, buffer + 172, 4);
    memcpy(&out->segments_max, buffer + 176, 4);
    memcpy(&out->unit_max_opt, buffer + 184, 4);
    return 0;
}

// pwritev2(2) and O_DIRECT are declared by glibc only under _GNU_SOURCE;
// RWF_ATOMIC (Linux 6.11) not at all. The tests use them to show what a
// kernel atomic write does to a sealed file.
extern ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags);
static const int clinux_O_DIRECT = __O_DIRECT;
static const int clinux_RWF_ATOMIC = 0x00000040;

// Whether every byte of [start, end) is mapped from the file with this
// device and inode, as /proc/self/maps lists it (any device when
// check_device is 0). 1 yes, 0 no, -1 when the list cannot be read. Parsed
// character by character from a buffer on the stack: it runs after a failed
// mmap, when the process may have no memory left to allocate.
static inline int clinux_range_maps_file(uintptr_t start, uintptr_t end, int check_device,
                                         unsigned long major, unsigned long minor, unsigned long long inode) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buffer[4096];
    uintptr_t covered = start;
    // Fields of the line: 0 low, 1 high, 2 perms, 3 offset, 4 major, 5 minor, 6 inode, 7 the rest.
    int field = 0;
    unsigned long long value[7] = {0};
    int result = 0, done = 0;
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n < 0) { result = -1; break; }
        if (n == 0) break;
        for (ssize_t i = 0; i < n && !done; i++) {
            char c = buffer[i];
            if (c == '\n') {
                uintptr_t low = (uintptr_t)value[0], high = (uintptr_t)value[1];
                if (field >= 6 && low <= covered && high > covered) {
                    if (value[6] != inode || (check_device && (value[4] != major || value[5] != minor))) { done = 1; break; }
                    covered = high;
                    if (covered >= end) { result = 1; done = 1; break; }
                }
                field = 0;
                memset(value, 0, sizeof value);
                continue;
            }
            if (field >= 7) continue;
            if ((field == 0 && c == '-') || (field == 4 && c == ':') || ((c == ' ') && field >= 1 && field <= 6)) {
                field++;
                continue;
            }
            if (field == 2 || c == ' ') continue;
            int digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
            if (digit < 0) { field = 7; continue; }
            value[field] = value[field] * (field == 6 ? 10 : 16) + (unsigned long long)digit;
        }
        if (done) break;
    }
    close(fd);
    return result;
}

#endif
