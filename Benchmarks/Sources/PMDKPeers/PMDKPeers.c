/*
 * PMDKPeers: see include/PMDKPeers.h.
 */
#include "PMDKPeers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpmem2.h>
#include <libpmemblk.h>
#include <libpmemobj.h>

#define PEER_OBJ_LAYOUT "swift-pmem-bench"
#define PEER_OBJ_REGION_TYPE 1

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Removes a stale file; the create calls refuse to overwrite one. */
static int
unlink_existing(const char *path, char *err, size_t errlen)
{
	if (unlink(path) != 0 && errno != ENOENT) {
		set_err(err, errlen, "unlink %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

uint64_t
peer_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- libpmemobj ------------------------------------------------------- */

/* The root object records the region so that a reopen can find it. */
struct peer_obj_root {
	PMEMoid region;
	uint64_t region_size;
};

struct peer_obj {
	PMEMobjpool *pop;
	PMEMoid region;
	char *base;
	size_t size;
};

static peer_obj *
obj_wrap(PMEMobjpool *pop, struct peer_obj_root *root, char *err,
	 size_t errlen)
{
	peer_obj *obj = malloc(sizeof(*obj));
	if (obj == NULL) {
		set_err(err, errlen, "malloc: %s", strerror(errno));
		pmemobj_close(pop);
		return NULL;
	}
	obj->pop = pop;
	obj->region = root->region;
	obj->base = pmemobj_direct(root->region);
	obj->size = (size_t)root->region_size;
	return obj;
}

peer_obj *
peer_obj_create(const char *path, size_t pool_size, size_t region_size,
		char *err, size_t errlen)
{
	if (region_size == 0 || region_size > PMEMOBJ_MAX_ALLOC_SIZE) {
		set_err(err, errlen, "region size %zu outside 1...%zu",
			region_size, (size_t)PMEMOBJ_MAX_ALLOC_SIZE);
		return NULL;
	}
	if (unlink_existing(path, err, errlen) != 0)
		return NULL;

	PMEMobjpool *pop = pmemobj_create(path, PEER_OBJ_LAYOUT, pool_size,
					  0666);
	if (pop == NULL) {
		set_err(err, errlen, "pmemobj_create: %s", pmemobj_errormsg());
		return NULL;
	}
	PMEMoid root_oid = pmemobj_root(pop, sizeof(struct peer_obj_root));
	if (OID_IS_NULL(root_oid)) {
		set_err(err, errlen, "pmemobj_root: %s", pmemobj_errormsg());
		pmemobj_close(pop);
		return NULL;
	}
	struct peer_obj_root *root = pmemobj_direct(root_oid);

	/* Allocating straight into root->region publishes it atomically. */
	if (pmemobj_zalloc(pop, &root->region, region_size,
			   PEER_OBJ_REGION_TYPE) != 0) {
		set_err(err, errlen, "pmemobj_zalloc(%zu): %s", region_size,
			pmemobj_errormsg());
		pmemobj_close(pop);
		return NULL;
	}
	root->region_size = region_size;
	pmemobj_persist(pop, &root->region_size, sizeof(root->region_size));
	return obj_wrap(pop, root, err, errlen);
}

peer_obj *
peer_obj_open(const char *path, char *err, size_t errlen)
{
	PMEMobjpool *pop = pmemobj_open(path, PEER_OBJ_LAYOUT);
	if (pop == NULL) {
		set_err(err, errlen, "pmemobj_open: %s", pmemobj_errormsg());
		return NULL;
	}
	struct peer_obj_root *root = pmemobj_direct(
		pmemobj_root(pop, sizeof(struct peer_obj_root)));
	if (root == NULL || OID_IS_NULL(root->region)) {
		set_err(err, errlen, "%s: pool has no region", path);
		pmemobj_close(pop);
		return NULL;
	}
	return obj_wrap(pop, root, err, errlen);
}

/* One transaction: the range snapshotted, then the copy. Plain: memcpy,
 * the range flushed at commit. Non-temporal: the range not flushed again
 * at commit (POBJ_XADD_NO_FLUSH), because the non-temporal copy is durable
 * before it returns (it drains); a crash before the commit still restores
 * the snapshot. */
static int
obj_tx_write(peer_obj *obj, size_t offset, const void *src, size_t len,
	     int nontemporal)
{
	if (offset > obj->size || len > obj->size - offset)
		return -1;
	volatile int ret = 0; /* TX_* is setjmp-based */
	TX_BEGIN(obj->pop) {
		/* A failed add_range aborts and jumps to TX_ONABORT. */
		if (nontemporal) {
			pmemobj_tx_xadd_range(obj->region, offset, len,
					      POBJ_XADD_NO_FLUSH);
			pmemobj_memcpy(obj->pop, obj->base + offset, src, len,
				       PMEMOBJ_F_MEM_NONTEMPORAL);
		} else {
			pmemobj_tx_add_range(obj->region, offset, len);
			memcpy(obj->base + offset, src, len);
		}
	} TX_ONABORT {
		ret = -1;
	} TX_END
	return ret;
}

int
peer_obj_tx_write(peer_obj *obj, size_t offset, const void *src, size_t len)
{
	return obj_tx_write(obj, offset, src, len, 0);
}

int
peer_obj_tx_write_nt(peer_obj *obj, size_t offset, const void *src, size_t len)
{
	return obj_tx_write(obj, offset, src, len, 1);
}

void *
peer_obj_region(peer_obj *obj)
{
	return obj->base;
}

size_t
peer_obj_region_size(peer_obj *obj)
{
	return obj->size;
}

void
peer_obj_close(peer_obj *obj)
{
	if (obj == NULL)
		return;
	pmemobj_close(obj->pop);
	free(obj);
}

/* ---- libpmemblk ------------------------------------------------------- */

struct peer_blk {
	PMEMblkpool *pbp;
};

peer_blk *
peer_blk_create(const char *path, size_t block_size, size_t pool_size,
		char *err, size_t errlen)
{
	if (unlink_existing(path, err, errlen) != 0)
		return NULL;
	PMEMblkpool *pbp = pmemblk_create(path, block_size, pool_size, 0666);
	if (pbp == NULL) {
		set_err(err, errlen, "pmemblk_create: %s", pmemblk_errormsg());
		return NULL;
	}
	peer_blk *blk = malloc(sizeof(*blk));
	if (blk == NULL) {
		set_err(err, errlen, "malloc: %s", strerror(errno));
		pmemblk_close(pbp);
		return NULL;
	}
	blk->pbp = pbp;
	return blk;
}

int
peer_blk_write(peer_blk *blk, long long block, const void *buf)
{
	return pmemblk_write(blk->pbp, buf, block);
}

int
peer_blk_read(peer_blk *blk, long long block, void *buf)
{
	return pmemblk_read(blk->pbp, buf, block);
}

size_t
peer_blk_count(peer_blk *blk)
{
	return pmemblk_nblock(blk->pbp);
}

size_t
peer_blk_block_size(peer_blk *blk)
{
	return pmemblk_bsize(blk->pbp);
}

void
peer_blk_close(peer_blk *blk)
{
	if (blk == NULL)
		return;
	pmemblk_close(blk->pbp);
	free(blk);
}

/* ---- raw libpmem2 ----------------------------------------------------- */

struct peer_raw {
	struct pmem2_map *map;
	char *base;
	size_t size;
	pmem2_persist_fn persist;
	pmem2_memcpy_fn memcpy_fn;
};

peer_raw *
peer_raw_open(const char *path, size_t size, char *err, size_t errlen)
{
	peer_raw *raw = NULL;
	struct pmem2_config *cfg = NULL;
	struct pmem2_source *src = NULL;
	struct pmem2_map *map = NULL;

	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0666);
	if (fd < 0) {
		set_err(err, errlen, "open %s: %s", path, strerror(errno));
		return NULL;
	}
	/* Reserve the blocks now so stores cannot hit ENOSPC (SIGBUS). */
	int e = posix_fallocate(fd, 0, (off_t)size);
	if (e != 0) {
		set_err(err, errlen, "posix_fallocate(%zu): %s", size,
			strerror(e));
		goto out;
	}
	if (pmem2_config_new(&cfg) != 0 ||
	    /* PAGE is the weakest requirement: accept any medium. */
	    pmem2_config_set_required_store_granularity(
		    cfg, PMEM2_GRANULARITY_PAGE) != 0 ||
	    pmem2_source_from_fd(&src, fd) != 0 ||
	    pmem2_map_new(&map, cfg, src) != 0) {
		set_err(err, errlen, "pmem2: %s", pmem2_errormsg());
		goto out;
	}
	raw = malloc(sizeof(*raw));
	if (raw == NULL) {
		set_err(err, errlen, "malloc: %s", strerror(errno));
		pmem2_map_delete(&map);
		goto out;
	}
	raw->map = map;
	raw->base = pmem2_map_get_address(map);
	raw->size = pmem2_map_get_size(map);
	raw->persist = pmem2_get_persist_fn(map);
	raw->memcpy_fn = pmem2_get_memcpy_fn(map);
	/* Fault every page in now, not inside a timed loop. */
	pmem2_get_memset_fn(map)(raw->base, 0, raw->size, 0);
out:
	pmem2_source_delete(&src);
	pmem2_config_delete(&cfg);
	close(fd); /* the mapping keeps the file alive */
	return raw;
}

void
peer_raw_copy_persist(peer_raw *raw, size_t offset, const void *src,
		      size_t len)
{
	raw->memcpy_fn(raw->base + offset, src, len, PMEM2_F_MEM_NONTEMPORAL);
}

/* An atomic store guarantees one 8-byte write: pmem's failure-atomic unit. */
static inline void
store8(peer_raw *raw, size_t offset, uint64_t value)
{
	__atomic_store_n((uint64_t *)(raw->base + offset), value,
			 __ATOMIC_RELAXED);
}

void
peer_raw_store8_persist(peer_raw *raw, size_t offset, uint64_t value)
{
	store8(raw, offset, value);
	raw->persist(raw->base + offset, 8);
}

uint64_t
peer_raw_persist_loop_ns(peer_raw *raw, size_t offset, size_t len,
			 size_t iterations)
{
	char *addr = raw->base + offset;
	pmem2_persist_fn persist = raw->persist;
	uint64_t start = peer_now_ns();
	for (size_t i = 0; i < iterations; i++) {
		store8(raw, offset, (uint64_t)i);
		persist(addr, len);
	}
	return peer_now_ns() - start;
}

const char *
peer_raw_granularity(peer_raw *raw)
{
	switch (pmem2_map_get_store_granularity(raw->map)) {
	case PMEM2_GRANULARITY_BYTE:
		return "byte";
	case PMEM2_GRANULARITY_CACHE_LINE:
		return "cache_line";
	case PMEM2_GRANULARITY_PAGE:
		return "page";
	}
	return "unknown";
}

void *
peer_raw_address(peer_raw *raw)
{
	return raw->base;
}

size_t
peer_raw_size(peer_raw *raw)
{
	return raw->size;
}

void
peer_raw_close(peer_raw *raw)
{
	if (raw == NULL)
		return;
	pmem2_map_delete(&raw->map);
	free(raw);
}
