#include "pmem_atomics.h"

// Per thread: the pool and lane of the thread's last commit, so that a
// thread keeps its lane (and the lane's cache lines stay in its core).
static __thread uintptr_t hint_pool;
static __thread int hint_lane = -1;

int pmem_lane_hint(uintptr_t pool) { return hint_pool == pool ? hint_lane : -1; }

void pmem_set_lane_hint(uintptr_t pool, int lane) {
    hint_pool = pool;
    hint_lane = lane;
}
