// Atomic accesses to raw memory (the pool file's mapping, lock words) that
// Swift's Synchronization cannot express, because the memory is not an
// `Atomic` value: C11 builtins, each one instruction on x86-64.
#ifndef PMEM_ATOMICS_H
#define PMEM_ATOMICS_H
#include <stdint.h>

/// One 8-byte store the hardware performs whole (a `mov`), as the pool
/// format's failure atomicity requires, and the compiler may not split.
static inline void pmem_store64(void *address, uint64_t value) {
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_RELAXED);
}

/// One 8-byte non-temporal store (`movnti`): whole, as `pmem_store64`, but
/// past the caches, so it needs no flush (and its line no read for
/// ownership); a fence (`sfence`, libpmem2's drain) makes it durable.
/// Only where the memory is the media's (cache-line flushes): x86-64.
static inline void pmem_stream64(void *address, uint64_t value) {
#if defined(__x86_64__)
    __builtin_ia32_movnti64((long long *)address, (long long)value);
#else
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_RELAXED);
#endif
}

static inline uint64_t pmem_load64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_RELAXED);
}

/// An acquire fence: no load after it (of a read-only opener's data) is
/// made before the loads before it (its first copy of the lane headers),
/// and, placed before its second copy, none before it is made after.
static inline void pmem_acquire_fence(void) {
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
}

/// A release fence: no store before it is made after the stores after it
/// (recovery's open generation around its own stores).
static inline void pmem_release_fence(void) {
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

/// Compare-and-swap of an 8-byte word; returns whether it swapped.
static inline int pmem_cas64(void *address, uint64_t expected, uint64_t desired) {
    return __atomic_compare_exchange_n((uint64_t *)address, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/// Adds `n` and returns the value before; a full barrier (`lock xadd`), so
/// every store made before it is visible to whatever follows it anywhere:
/// the sync tickets of deferred applies (docs/FORMAT.md, "Deferred apply").
static inline uint64_t pmem_fetch_add64(void *address, uint64_t n) {
    return __atomic_fetch_add((uint64_t *)address, n, __ATOMIC_SEQ_CST);
}

/// Raises the word to at least `value`.
static inline void pmem_store_max64(void *address, uint64_t value) {
    uint64_t seen = __atomic_load_n((uint64_t *)address, __ATOMIC_ACQUIRE);
    while (seen < value && !__atomic_compare_exchange_n((uint64_t *)address, &seen, value, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {}
}

/// A lock word: 0 free, 1 held. Acquire on success, release on unlock.
static inline int pmem_trylock(uint32_t *word) {
    uint32_t expected = 0;
    if (__atomic_load_n(word, __ATOMIC_RELAXED) != 0) return 0;
    return __atomic_compare_exchange_n(word, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void pmem_unlock(uint32_t *word) {
    __atomic_store_n(word, 0, __ATOMIC_RELEASE);
}

static inline void pmem_cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

/// The lane this thread used last in the pool `pool` (an identity), or -1.
int pmem_lane_hint(uintptr_t pool);
/// Remembers `lane` as this thread's lane in `pool`.
void pmem_set_lane_hint(uintptr_t pool, int lane);

#endif
