// The lines of a pool's lock table (in process memory, never on the media):
// one per lock stripe (a fixed number of them, each covering the logical
// chunks congruent modulo their count) and one per lane, each on cache lines
// of its own so that threads on different stripes or lanes write no common
// line. Their layouts are checked here, once, rather than kept as offsets
// by hand. Their size is a whole number of lines; the allocator
// (ChunkLocks.swift) puts the first at a line's start. No alignment attribute: Swift does not
// import over-aligned records.
#ifndef SWIFT_PMEM_LOCK_LINES_H
#define SWIFT_PMEM_LOCK_LINES_H

#include <stdint.h>

/// One lock stripe: its lock word, what the commit protocol knows about the
/// last record that touched one of its chunks (changed only under the lock),
/// and the counters of the in-place writes into them (an in-place write
/// takes no lane).
typedef struct pmem_stripe_line {
    uint32_t lock;
    /// The lane of the last record that touched one of the chunks; -1: none.
    int32_t last_lane;
    /// That record's sequence number; 0: none since the pool was opened.
    uint64_t last_sequence;
    /// Commits, bytes requested, bytes stored in place, fences.
    uint64_t in_place[4];
    uint64_t unused[2];
} pmem_stripe_line;

/// One lane: its lock word (a pair's is its even lane's), the sequence number
/// of its last record, its counters (in PoolStatistics' order), and the sync
/// ticket its record's apply waits for (0: durable).
typedef struct pmem_lane_line {
    uint32_t lock;
    uint32_t unused0;
    uint64_t sequence;
    uint64_t counters[8];
    uint64_t pending_ticket;
    uint64_t unused[5];
} pmem_lane_line;

_Static_assert(sizeof(pmem_stripe_line) == 64, "a stripe's line is one cache line");
_Static_assert(sizeof(pmem_lane_line) == 128, "a lane's line is two cache lines");

static inline uint32_t *pmem_stripe_lock(pmem_stripe_line *line) { return &line->lock; }
static inline uint64_t *pmem_stripe_in_place(pmem_stripe_line *line) { return line->in_place; }
static inline uint32_t *pmem_lane_lock(pmem_lane_line *line) { return &line->lock; }
static inline uint64_t *pmem_lane_counters(pmem_lane_line *line) { return line->counters; }
static inline uint64_t *pmem_lane_pending_ticket(pmem_lane_line *line) { return &line->pending_ticket; }

#endif
