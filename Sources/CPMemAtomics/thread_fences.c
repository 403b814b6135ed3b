#include "pmem_atomics.h"

// Per thread: its token (0 until drawn) and its fences through a pool. A
// token, unlike an address of thread-local storage, is never reused by a
// later thread, whose fences would not order this one's flushes.
static __thread uint64_t token;
static __thread uint64_t fences;
static uint64_t last_token;

uint64_t pmem_thread_token(void) {
    if (token == 0) token = __atomic_add_fetch(&last_token, 1, __ATOMIC_RELAXED);
    return token;
}

uint64_t pmem_thread_fences(void) { return fences; }

void pmem_count_thread_fence(void) { fences += 1; }
