/*
 * FloorLoop: see include/FloorLoop.h. This file is the floor's definition.
 *
 * A logged write of n bytes on the cache-flush path, as Pool.write makes it
 * (docs/FORMAT.md, "Update protocol", steps 3-6), reduced to what it cannot
 * do without:
 *   3. the record in the lane: a 64-byte header, a 24-byte entry head and
 *      the payload padded to 8 bytes; the body checksummed in three parts
 *      and the header with its own CRC-32C, by the project's CRC-32C code
 *      (ccrc32c.c, compiled here under other names). Under 256 bytes the
 *      payload is copied through the cache and the record flushed; from 256
 *      bytes on it is copied and checksummed in one pass with non-temporal
 *      stores, and only the header's line is flushed, as the pool does.
 *   4. a fence: the commit point.
 *   5. the payload in place with libpmem2's flushing copy, with the pool's
 *      flags: no drain, and non-temporal stores at cache-line granularity;
 *   6. a fence.
 * Left out: locks, choosing a lane, sequence numbers and their bookkeeping,
 * range checks, killing older records, the in-place word of 8-byte writes,
 * the remap path, statistics, the view (the floor writes through the file
 * mapping, where the pool's apply writes too), and error handling.
 */
#include "FloorLoop.h"
#include "ccrc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpmem2.h>

#define HEADER 64
#define ENTRY_HEAD 24
#define STREAMED_MINIMUM 256 /* LoggedWrite.streamedMinimum */
#define FOLD_MINIMUM_PART 320 /* CRC32C.foldMinimumPart */

struct floor_loop {
	struct pmem2_map *map;
	char *lane;
	char *data;
	size_t lane_size;
	size_t data_size;
	pmem2_flush_fn flush;
	pmem2_drain_fn drain;
	pmem2_memcpy_fn memcpy_fn;
	uint64_t sequence;
	int fold;
	unsigned apply_flags;
};

static void
set_err(char *err, size_t errlen, const char *what)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", what);
}

floor_loop *
floor_loop_open(const char *path, size_t lane_size, size_t data_size, char *err, size_t errlen)
{
	floor_loop *f = NULL;
	struct pmem2_config *cfg = NULL;
	struct pmem2_source *src = NULL;
	struct pmem2_map *map = NULL;
	char reason[256];

	if (!ccrc32c_hardware_available()) {
		set_err(err, errlen, "the floor loop needs the crc32 instruction (SSE4.2)");
		return NULL;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0666);
	if (fd < 0) {
		snprintf(reason, sizeof(reason), "open %s: %s", path, strerror(errno));
		set_err(err, errlen, reason);
		return NULL;
	}
	int e = posix_fallocate(fd, 0, (off_t)(lane_size + data_size));
	if (e != 0) {
		snprintf(reason, sizeof(reason), "posix_fallocate: %s", strerror(e));
		set_err(err, errlen, reason);
		goto out;
	}
	if (pmem2_config_new(&cfg) != 0 ||
	    pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE) != 0 ||
	    pmem2_source_from_fd(&src, fd) != 0 || pmem2_map_new(&map, cfg, src) != 0) {
		snprintf(reason, sizeof(reason), "pmem2: %s", pmem2_errormsg());
		set_err(err, errlen, reason);
		goto out;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		set_err(err, errlen, "calloc failed");
		pmem2_map_delete(&map);
		goto out;
	}
	f->map = map;
	f->lane = pmem2_map_get_address(map);
	f->data = f->lane + lane_size;
	f->lane_size = lane_size;
	f->data_size = data_size;
	f->flush = pmem2_get_flush_fn(map);
	f->drain = pmem2_get_drain_fn(map);
	f->memcpy_fn = pmem2_get_memcpy_fn(map);
	f->fold = ccrc32c_fold_available();
	/* As PersistenceCalls.hardware chooses for the pool's apply. */
	f->apply_flags = PMEM2_F_MEM_NODRAIN;
	if (pmem2_map_get_store_granularity(map) == PMEM2_GRANULARITY_CACHE_LINE)
		f->apply_flags |= PMEM2_F_MEM_NONTEMPORAL;
	/* Fault every page in now, not inside a timed loop. */
	pmem2_get_memset_fn(map)(f->lane, 0, lane_size + data_size, 0);
out:
	pmem2_source_delete(&src);
	pmem2_config_delete(&cfg);
	close(fd);
	return f;
}

size_t
floor_loop_capacity(floor_loop *f)
{
	return f->lane_size - HEADER - ENTRY_HEAD - 8;
}

static inline void
store64(char *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}

/* The body's three checksums over one contiguous body, as the pool's
 * CRC32C.threeParts (the crc32 instruction's three-stream form). */
static void
three_parts(uint32_t sums[3], const char *body, size_t n)
{
	size_t part = n / 24 * 8;
	uint32_t state[3] = {~0u, ~0u, ~0u};
	if (part > 0)
		ccrc32c_hardware_update3(state, body, body + part, body + 2 * part, part / 8);
	sums[0] = ~state[0];
	sums[1] = ~state[1];
	sums[2] = ~ccrc32c_hardware_update(state[2], body + 3 * part, n - 3 * part);
}

/* The header: magic, sequence, entry count, body length, the body's part
 * checksums, and its own CRC-32C over its first 60 bytes. */
static void
write_header(char *record, uint64_t sequence, size_t body, const uint32_t sums[3])
{
	store64(record, 0x54494D4D4F434D50ull);
	store64(record + 8, sequence);
	store64(record + 16, 1);
	store64(record + 24, body);
	store64(record + 32, (uint64_t)sums[1] << 32 | sums[0]);
	store64(record + 40, sums[2]);
	store64(record + 48, 0);
	store64(record + 56, 0);
	uint32_t crc = ~ccrc32c_hardware_update(~0u, record, 60);
	store64(record + 56, (uint64_t)crc << 32);
}

void
floor_loop_write(floor_loop *f, size_t offset, const void *src, size_t len)
{
	char *record = f->lane;
	char *head = record + HEADER;
	char *payload = head + ENTRY_HEAD;
	size_t padded = (len + 7) & ~(size_t)7;
	uint32_t sums[3];

	store64(head, 1);
	store64(head + 8, offset);
	store64(head + 16, len);
	if (len >= STREAMED_MINIMUM) {
		/* The payload bytes in the entry head's line go through the cache. */
		size_t shared = (64 - (HEADER + ENTRY_HEAD) % 64) % 64;
		if (shared > padded)
			shared = padded;
		size_t part = (ENTRY_HEAD + padded) / 24 * 8;
		if (f->fold && part >= FOLD_MINIMUM_PART)
			ccrc32c_copy_body_fold(sums, payload, head, ENTRY_HEAD, src, len, shared);
		else
			ccrc32c_copy_body_nt(sums, payload, head, ENTRY_HEAD, src, len, shared);
		write_header(record, ++f->sequence, ENTRY_HEAD + padded, sums);
		f->flush(record, HEADER + ENTRY_HEAD + shared);
	} else {
		if (padded > len)
			memset(payload + len, 0, padded - len);
		memcpy(payload, src, len);
		three_parts(sums, head, ENTRY_HEAD + padded);
		write_header(record, ++f->sequence, ENTRY_HEAD + padded, sums);
		f->flush(record, HEADER + ENTRY_HEAD + padded);
	}
	f->drain();
	f->memcpy_fn(f->data + offset, src, len, f->apply_flags);
	f->drain();
}

void
floor_loop_close(floor_loop *f)
{
	if (f == NULL)
		return;
	pmem2_map_delete(&f->map);
	free(f);
}
