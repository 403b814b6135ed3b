// What one durable 4 KiB update costs on a file system off DAX, by the
// route it takes to the device: through a shared mapping (a store, then
// msync or fdatasync: the route a pool's msync path takes), through
// O_DIRECT (pwrite + fdatasync), and the kernel's own failure-atomic write
// (pwritev2 RWF_ATOMIC | RWF_DSYNC). Usage: writeback-probe FILE [N].
// Prints microseconds per update for each route; scripts/writeback-probe
// runs it on a loop-mounted xfs and counts the device's cache flushes.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#ifndef RWF_ATOMIC
#define RWF_ATOMIC 0x00000040
#endif

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

enum { SIZE = 64 << 20, PAGE = 4096 };

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: writeback-probe FILE [N]\n"); return 2; }
    int n = argc > 2 ? atoi(argv[2]) : 50;
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, SIZE) != 0) { perror(argv[1]); return 1; }
    char *zeros = calloc(1, 1 << 20);
    for (size_t o = 0; o < SIZE; o += 1 << 20) if (pwrite(fd, zeros, 1 << 20, o) != 1 << 20) { perror("pwrite"); return 1; }
    fsync(fd);
    char *map = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int direct = open(argv[1], O_RDWR | O_DIRECT);
    void *buffer;
    if (map == MAP_FAILED || direct < 0 || posix_memalign(&buffer, PAGE, PAGE) != 0) { perror("setup"); return 1; }
    memset(buffer, 7, PAGE);
    struct iovec v = { buffer, PAGE };
    const char *names[] = {
        "store to 1 page, msync of the page",
        "store to 1 page, fdatasync",
        "store to 3 pages, one msync of the whole file",
        "store to 1 page, sync_file_range (write-back, no cache flush)",
        "O_DIRECT pwrite of 1 page, fdatasync",
        "pwritev2 RWF_ATOMIC | RWF_DSYNC of 1 page (O_DIRECT)",
        "single-page folios: store to 1 page, msync of the page",
        "single-page folios: store to 3 pages, one msync of the whole file",
    };
    for (int route = 0; route < 8; route++) {
        if (route == 6) {
            // As a pool maps off DAX (Mapping): the cached large folios the
            // setup's 1 MiB writes made are dropped, and faults read no
            // ahead, so each brings in one page and a store dirties 4 KiB,
            // not the folio around it (up to 2 MiB on xfs).
            munmap(map, SIZE);
            fsync(fd);
            posix_fadvise(fd, 0, SIZE, POSIX_FADV_DONTNEED);
            map = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (map == MAP_FAILED) { perror("mmap"); return 1; }
            madvise(map, SIZE, MADV_RANDOM);
        }
        double start = now_us();
        for (int i = 0; i < n; i++) {
            char *page = map + PAGE * (16 + i);
            switch (route) {
            case 0: case 6: page[0] = (char)i; msync(page, PAGE, MS_SYNC); break;
            case 1: page[0] = (char)i; fdatasync(fd); break;
            case 2: case 7: map[PAGE * 10] = (char)i; map[PAGE * 11] = (char)i; page[0] = (char)i; msync(map, SIZE, MS_SYNC); break;
            case 3: page[0] = (char)i; sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER); break;
            case 4: if (pwrite(direct, buffer, PAGE, PAGE * (200 + i)) != PAGE) { perror("O_DIRECT pwrite"); return 1; } fdatasync(direct); break;
            case 5:
                if (pwritev2(direct, &v, 1, PAGE * (400 + i), RWF_ATOMIC | RWF_DSYNC) != PAGE) { printf("%-62s  not offered here\n", names[route]); goto next; }
                break;
            }
        }
        printf("%-62s %8.1f us\n", names[route], (now_us() - start) / n);
    next:;
    }
    return 0;
}
