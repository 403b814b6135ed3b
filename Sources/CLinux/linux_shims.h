// Layer 1: the Linux file-system interfaces that Swift's Glibc module does not
// export (statfs, xattr, fallocate, FIEMAP, O_TMPFILE). Only declarations and
// constants, such as the ioctl request numbers whose _IOWR() macros Swift
// cannot import.
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

#endif
