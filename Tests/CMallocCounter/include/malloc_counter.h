// Counts heap allocations made by the calling thread, for tests that the
// one-write commit paths allocate nothing. The test binary's own malloc
// overrides glibc's and forwards to it. Not built under a sanitizer (which
// interposes malloc itself): `malloc_counter_available` is then 0.
#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H
#include <stddef.h>
#include <stdint.h>

int malloc_counter_available(void);
/// Starts counting this thread's allocations from zero.
void malloc_counter_start(void);
/// Stops counting; returns the allocations this thread made since start.
uint64_t malloc_counter_stop(void);
/// The bytes the process's heap has handed out and not had back (glibc's
/// mallinfo2 `uordblks`, every thread); 0 when not available.
uint64_t malloc_counter_heap_in_use(void);
/// Keeps blocks of up to `bytes` on the heap instead of an mmap each, and
/// the heap from shrinking below it: for tests that make and drop large
/// arrays by the million (the crash model's images). No-op under a sanitizer.
void malloc_counter_keep_on_heap(size_t bytes);

#endif
