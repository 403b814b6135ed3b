#include "malloc_counter.h"
#include <stddef.h>
#include <errno.h>
#include <malloc.h>

#if defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#    define MALLOC_COUNTER_OFF 1
#  endif
#endif

#ifdef MALLOC_COUNTER_OFF
int malloc_counter_available(void) { return 0; }
void malloc_counter_start(void) {}
uint64_t malloc_counter_stop(void) { return 0; }
uint64_t malloc_counter_heap_in_use(void) { return 0; }
void malloc_counter_keep_on_heap(size_t bytes) { (void)bytes; }
#else
void malloc_counter_keep_on_heap(size_t bytes) {
    mallopt(M_MMAP_THRESHOLD, (int)bytes);
    mallopt(M_TRIM_THRESHOLD, (int)(bytes * 32));
}
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static __thread int counting;
static __thread uint64_t count;

int malloc_counter_available(void) { return 1; }
void malloc_counter_start(void) { count = 0; counting = 1; }
uint64_t malloc_counter_stop(void) { counting = 0; return count; }
uint64_t malloc_counter_heap_in_use(void) { return mallinfo2().uordblks; }

void *malloc(size_t n) { if (counting) count++; return __libc_malloc(n); }
void *calloc(size_t m, size_t n) { if (counting) count++; return __libc_calloc(m, n); }
void *realloc(void *p, size_t n) { if (counting) count++; return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { if (counting) count++; return __libc_memalign(a, n); }
void *memalign(size_t a, size_t n) { if (counting) count++; return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    if (counting) count++;
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
#endif
