/*
 * Smoke test for PMDKPeers, outside Sources/ so SwiftPM never builds it.
 * Run on /dev/shm with PMEM2_FORCE_GRANULARITY=CACHE_LINE and
 * PMEM_IS_PMEM_FORCE=1 so the cache-flush paths are the ones exercised.
 */
#include "PMDKPeers.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)
#define DIR "/dev/shm/"

static const size_t sizes[] = {8, 64, 256, 4096, 65536, MiB, 16 * MiB};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static int failures;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                      \
			fputc('\n', stderr);                               \
			failures++;                                        \
		}                                                          \
	} while (0)

/* Roughly 64 MiB of traffic per size, but at least a few rounds. */
static size_t
rounds(size_t bytes)
{
	size_t n = 64 * MiB / bytes;
	return n < 8 ? 8 : n > 20000 ? 20000 : n;
}

static void
fill(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 9));
}

static void
report(const char *what, size_t size, uint64_t first_ns, uint64_t total_ns,
       size_t n)
{
	double per = (double)total_ns / (double)n;
	printf("%-12s %9zu B  first %10.0f ns  %11.0f ns/op  %8.1f MB/s\n",
	       what, size, (double)first_ns, per, (double)size * 1e3 / per);
}

static void
smoke_obj(unsigned char *bufs[2])
{
	const char *path = DIR "peers-smoke-obj";
	char err[256];
	peer_obj *obj = peer_obj_create(path, 128 * MiB, 16 * MiB, err,
					sizeof(err));
	CHECK(obj != NULL, "peer_obj_create: %s", err);
	if (obj == NULL)
		return;
	CHECK(peer_obj_tx_write(obj, 16 * MiB - 4, bufs[0], 8) == -1,
	      "out-of-range tx write accepted");

	for (size_t s = 0; s < NSIZES; s++) {
		size_t size = sizes[s], n = rounds(size);
		uint64_t t0 = peer_now_ns();
		int rc = peer_obj_tx_write(obj, 0, bufs[1], size);
		uint64_t first = peer_now_ns() - t0;
		t0 = peer_now_ns();
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = peer_obj_tx_write(obj, 0, bufs[i & 1], size);
		uint64_t total = peer_now_ns() - t0;
		CHECK(rc == 0, "obj tx write %zu failed", size);
		report("obj tx", size, first, total, n);

		const unsigned char *want = bufs[(n - 1) & 1];
		CHECK(memcmp(peer_obj_region(obj), want, size) == 0,
		      "obj %zu: bytes differ before reopen", size);
		peer_obj_close(obj);
		obj = peer_obj_open(path, err, sizeof(err));
		CHECK(obj != NULL, "peer_obj_open: %s", err);
		if (obj == NULL)
			return;
		CHECK(peer_obj_region_size(obj) == 16 * MiB,
		      "obj region size %zu after reopen",
		      peer_obj_region_size(obj));
		CHECK(memcmp(peer_obj_region(obj), want, size) == 0,
		      "obj %zu: bytes differ after reopen", size);
		/* The non-temporal transaction writes the other buffer. */
		const unsigned char *other = bufs[n & 1];
		CHECK(peer_obj_tx_write_nt(obj, 0, other, size) == 0,
		      "obj non-temporal tx write %zu failed", size);
		CHECK(memcmp(peer_obj_region(obj), other, size) == 0,
		      "obj non-temporal %zu: bytes differ", size);
	}
	peer_obj_close(obj);
	unlink(path);
}

static void
smoke_blk(unsigned char *bufs[2], size_t bsize)
{
	char path[64], err[256];
	snprintf(path, sizeof(path), DIR "peers-smoke-blk%zu", bsize);
	peer_blk *blk = peer_blk_create(path, bsize, 64 * MiB, err,
					sizeof(err));
	CHECK(blk != NULL, "peer_blk_create(%zu): %s", bsize, err);
	if (blk == NULL)
		return;
	printf("blk %zu: %zu blocks of %zu B\n", bsize, peer_blk_count(blk),
	       peer_blk_block_size(blk));
	unsigned char *back = malloc(bsize);
	char what[16];
	snprintf(what, sizeof(what), "blk %zu", bsize);

	/* A size below one block still costs one whole block write. */
	for (size_t s = 0; s < NSIZES; s++) {
		size_t nblk = sizes[s] < bsize ? 1 : sizes[s] / bsize;
		size_t n = rounds(nblk * bsize);
		int rc = 0;
		uint64_t t0 = peer_now_ns();
		for (size_t b = 0; b < nblk && rc == 0; b++)
			rc = peer_blk_write(blk, (long long)b,
					    bufs[1] + b * bsize);
		uint64_t first = peer_now_ns() - t0;
		t0 = peer_now_ns();
		for (size_t i = 0; i < n && rc == 0; i++)
			for (size_t b = 0; b < nblk && rc == 0; b++)
				rc = peer_blk_write(blk, (long long)b,
						    bufs[i & 1] + b * bsize);
		uint64_t total = peer_now_ns() - t0;
		CHECK(rc == 0, "blk %zu write of %zu blocks failed", bsize,
		      nblk);
		report(what, sizes[s], first, total, n);

		const unsigned char *want = bufs[(n - 1) & 1];
		for (size_t b = 0; b < nblk; b++) {
			CHECK(peer_blk_read(blk, (long long)b, back) == 0 &&
				      memcmp(back, want + b * bsize, bsize) == 0,
			      "blk %zu: block %zu differs", bsize, b);
		}
	}
	free(back);
	peer_blk_close(blk);
	unlink(path);
}

static void
smoke_raw(unsigned char *bufs[2])
{
	const char *path = DIR "peers-smoke-raw";
	char err[256];
	peer_raw *raw = peer_raw_open(path, 32 * MiB, err, sizeof(err));
	CHECK(raw != NULL, "peer_raw_open: %s", err);
	if (raw == NULL)
		return;
	printf("raw: %zu B mapped, granularity %s\n", peer_raw_size(raw),
	       peer_raw_granularity(raw));

	size_t n = 0;
	for (size_t s = 0; s < NSIZES; s++) {
		size_t size = sizes[s];
		n = rounds(size);
		uint64_t t0 = peer_now_ns();
		peer_raw_copy_persist(raw, 0, bufs[1], size);
		uint64_t first = peer_now_ns() - t0;
		t0 = peer_now_ns();
		for (size_t i = 0; i < n; i++)
			peer_raw_copy_persist(raw, 0, bufs[i & 1], size);
		report("raw memcpy", size, first, peer_now_ns() - t0, n);
		CHECK(memcmp(peer_raw_address(raw), bufs[(n - 1) & 1], size) ==
			      0,
		      "raw %zu: bytes differ", size);
	}

	/* Persist loops use the upper half, leaving the copy for the file check. */
	const size_t loops = 1000000;
	uint64_t t0 = peer_now_ns();
	for (size_t i = 0; i < loops; i++)
		peer_raw_store8_persist(raw, 16 * MiB + 64, i);
	printf("raw store8+persist(8) via call: %.1f ns/op\n",
	       (double)(peer_now_ns() - t0) / loops);
	const size_t lens[] = {8, 64, 256, 4096};
	for (size_t l = 0; l < 4; l++)
		printf("raw persist loop len %4zu: %.1f ns/op\n", lens[l],
		       (double)peer_raw_persist_loop_ns(raw, 16 * MiB, lens[l],
							loops) / loops);
	CHECK(*(uint64_t *)((char *)peer_raw_address(raw) + 16 * MiB) ==
		      loops - 1,
	      "persist loop: last value not stored");
	peer_raw_close(raw);

	/* The file itself, not just the mapping, must hold the last copy. */
	unsigned char *back = malloc(16 * MiB);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, back, 16 * MiB, 0) == (ssize_t)(16 * MiB) &&
		      memcmp(back, bufs[(n - 1) & 1], 16 * MiB) == 0,
	      "raw file contents differ after unmap");
	close(fd);
	free(back);
	unlink(path);
}

int
main(void)
{
	unsigned char *bufs[2] = {malloc(16 * MiB), malloc(16 * MiB)};
	fill(bufs[0], 16 * MiB, 1);
	fill(bufs[1], 16 * MiB, 2);

	smoke_obj(bufs);
	smoke_blk(bufs, 512);
	smoke_blk(bufs, 4096);
	smoke_raw(bufs);

	free(bufs[0]);
	free(bufs[1]);
	printf(failures ? "FAILED (%d)\n" : "OK\n", failures);
	return failures != 0;
}
