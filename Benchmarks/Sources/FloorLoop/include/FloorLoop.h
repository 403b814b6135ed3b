/*
 * FloorLoop: the floor of a logged write, for pmem-compare to print as a
 * peer. Its source (FloorLoop.c) is the definition: exactly the essential
 * steps of the pool's logged write on the cache-flush path, with the same
 * copies and checksums the pool uses, and nothing else.
 */
#ifndef FLOOR_LOOP_H
#define FLOOR_LOOP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct floor_loop floor_loop;

/* Creates or truncates `path` to a log lane of `lane_size` bytes followed by
 * `data_size` bytes of data, maps it with libpmem2 and faults every page in.
 * NULL and a reason in err on failure. */
floor_loop *floor_loop_open(const char *path, size_t lane_size, size_t data_size, char *err, size_t errlen);

/* One logged write of `len` bytes (1 up to the lane's room) at `offset` in
 * the data: the record in the lane, durable; then the bytes in place,
 * durable. */
void floor_loop_write(floor_loop *f, size_t offset, const void *src, size_t len);

/* The largest payload the lane holds. */
size_t floor_loop_capacity(floor_loop *f);

void floor_loop_close(floor_loop *f);

#ifdef __cplusplus
}
#endif

#endif /* FLOOR_LOOP_H */
