/*
 * PMDKPeers: C reference implementations ("peers") that the Swift
 * benchmarks compare against: libpmemobj undo-log transactions,
 * libpmemblk atomic block writes and raw libpmem2 persists.
 *
 * No PMDK types appear here so that Swift only sees opaque pointers.
 * Functions taking `err, errlen` write a one-line reason there on failure
 * (err may be NULL).
 */
#ifndef PMDK_PEERS_H
#define PMDK_PEERS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- libpmemobj: one persistent region, written in undo-log transactions */

typedef struct peer_obj peer_obj;

/* Unlinks `path`, creates a pool of `pool_size` bytes and allocates one
 * zeroed region of `region_size` bytes. The pool must also hold the undo
 * snapshot of the largest write: pool_size >= 2 * region_size + ~8 MiB. */
peer_obj *peer_obj_create(const char *path, size_t pool_size,
			  size_t region_size, char *err, size_t errlen);

/* Reopens a pool made by peer_obj_create. */
peer_obj *peer_obj_open(const char *path, char *err, size_t errlen);

/* One transaction: snapshot [offset, offset+len) into the undo log, then
 * copy `src` there; the range is persisted at commit. 0 or -1. */
int peer_obj_tx_write(peer_obj *obj, size_t offset, const void *src,
		      size_t len);

/* The same transaction at its fastest for the same guarantee: the range
 * snapshotted (pmemobj_tx_xadd_range with POBJ_XADD_NO_FLUSH), then
 * copied with non-temporal stores and drained (pmemobj_memcpy with
 * PMEMOBJ_F_MEM_NONTEMPORAL) before the commit. 0 or -1. */
int peer_obj_tx_write_nt(peer_obj *obj, size_t offset, const void *src,
			 size_t len);

void *peer_obj_region(peer_obj *obj);
size_t peer_obj_region_size(peer_obj *obj);
void peer_obj_close(peer_obj *obj);

/* ---- libpmemblk: fixed-size blocks, each write atomic ---------------- */

typedef struct peer_blk peer_blk;

/* Unlinks `path` and creates a pool (pool_size >= 16 MiB + 128 KiB). */
peer_blk *peer_blk_create(const char *path, size_t block_size,
			  size_t pool_size, char *err, size_t errlen);

/* `buf` holds exactly one block. 0 or -1. */
int peer_blk_write(peer_blk *blk, long long block, const void *buf);
int peer_blk_read(peer_blk *blk, long long block, void *buf);
size_t peer_blk_count(peer_blk *blk);
size_t peer_blk_block_size(peer_blk *blk);
void peer_blk_close(peer_blk *blk);

/* ---- raw libpmem2 mapping: the lower bound ---------------------------- */

typedef struct peer_raw peer_raw;

/* Creates or truncates `path` to `size` bytes, maps it with libpmem2 and
 * faults every page in, so timed loops never pay first-touch faults. */
peer_raw *peer_raw_open(const char *path, size_t size, char *err,
			size_t errlen);

/* Non-temporal memcpy into the mapping, persisted before returning. */
void peer_raw_copy_persist(peer_raw *raw, size_t offset, const void *src,
			   size_t len);

/* One 8-byte store (offset must be 8-aligned) followed by persist(8). */
void peer_raw_store8_persist(peer_raw *raw, size_t offset, uint64_t value);

/* Times, in C, `iterations` rounds of: 8-byte store of the round number at
 * `offset` (8-aligned), then persist(offset, len). Returns total ns. */
uint64_t peer_raw_persist_loop_ns(peer_raw *raw, size_t offset, size_t len,
				  size_t iterations);

/* "byte", "cache_line" or "page": what a persist has to flush. */
const char *peer_raw_granularity(peer_raw *raw);

void *peer_raw_address(peer_raw *raw);
size_t peer_raw_size(peer_raw *raw);
void peer_raw_close(peer_raw *raw);

/* ---- the kernel's atomic write (AtomicWritePeer.c) -------------------- */

/* pwritev2(RWF_ATOMIC | RWF_DSYNC) on an O_DIRECT descriptor. */
typedef struct peer_atomic peer_atomic;

/* Creates the file at path, writes all of its size bytes once and fsyncs;
 * keeps an aligned buffer of max_write bytes for the writes. NULL and a
 * reason in err on failure. */
peer_atomic *peer_atomic_open(const char *path, size_t size, size_t max_write,
			      char *err, size_t errlen);
/* Copies the payload into the aligned buffer (once, before timing). */
void peer_atomic_fill(peer_atomic *a, const void *src, size_t len);
/* One atomic, durable write of the buffer's first len bytes at offset: 0,
 * or the errno (EINVAL when the file system offers no such atomic write). */
int peer_atomic_write(peer_atomic *a, size_t offset, size_t len);
void peer_atomic_close(peer_atomic *a);

/* ---- clock ------------------------------------------------------------ */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t peer_now_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* PMDK_PEERS_H */
