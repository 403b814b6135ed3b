/*
 * The kernel's own failure-atomic write: pwritev2(RWF_ATOMIC | RWF_DSYNC) on
 * an O_DIRECT descriptor (Linux 6.11; xfs does writes larger than a block by
 * copy-on-write remap from 6.16). See include/PMDKPeers.h.
 */
#define _GNU_SOURCE
#include "PMDKPeers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* Debian 12's glibc headers predate them. */
#ifndef RWF_DSYNC
#define RWF_DSYNC 0x00000002
#endif
#ifndef RWF_ATOMIC
#define RWF_ATOMIC 0x00000040
#endif

struct peer_atomic {
	int fd;
	void *buf;
	size_t buf_size;
};

static void
atomic_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

peer_atomic *
peer_atomic_open(const char *path, size_t size, size_t max_write, char *err,
		 size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
	if (fd < 0) {
		atomic_err(err, errlen, "open %s with O_DIRECT: %s", path,
			   strerror(errno));
		return NULL;
	}
	void *buf = NULL;
	int e = posix_memalign(&buf, 1 << 20, max_write);
	if (e != 0) {
		atomic_err(err, errlen, "posix_memalign(%zu): %s", max_write,
			   strerror(e));
		close(fd);
		return NULL;
	}
	/* Every block written once, so the timed writes are overwrites. */
	memset(buf, 0, max_write);
	for (size_t done = 0; done < size;) {
		size_t n = size - done < max_write ? size - done : max_write;
		ssize_t w = pwrite(fd, buf, n, (off_t)done);
		if (w <= 0) {
			atomic_err(err, errlen, "writing %s: %s", path,
				   w < 0 ? strerror(errno) : "short write");
			free(buf);
			close(fd);
			return NULL;
		}
		done += (size_t)w;
	}
	if (fsync(fd) != 0) {
		atomic_err(err, errlen, "fsync %s: %s", path, strerror(errno));
		free(buf);
		close(fd);
		return NULL;
	}
	peer_atomic *a = malloc(sizeof(*a));
	if (a == NULL) {
		free(buf);
		close(fd);
		atomic_err(err, errlen, "malloc: %s", strerror(errno));
		return NULL;
	}
	a->fd = fd;
	a->buf = buf;
	a->buf_size = max_write;
	return a;
}

void
peer_atomic_fill(peer_atomic *a, const void *src, size_t len)
{
	memcpy(a->buf, src, len < a->buf_size ? len : a->buf_size);
}

int
peer_atomic_write(peer_atomic *a, size_t offset, size_t len)
{
	if (len > a->buf_size)
		return EINVAL;
	struct iovec iov = {.iov_base = a->buf, .iov_len = len};
	ssize_t w = pwritev2(a->fd, &iov, 1, (off_t)offset,
			     RWF_ATOMIC | RWF_DSYNC);
	if (w < 0)
		return errno;
	return (size_t)w == len ? 0 : EIO;
}

void
peer_atomic_close(peer_atomic *a)
{
	if (a == NULL)
		return;
	close(a->fd);
	free(a->buf);
	free(a);
}
