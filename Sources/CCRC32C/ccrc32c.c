#include "ccrc32c.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__x86_64__)
int ccrc32c_hardware_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}

// Three independent streams would hide the instruction's 3-cycle latency;
// one stream of 8-byte steps is already ~8 bytes per 3 cycles, far beyond
// the table's speed, and keeps the code obviously right.
__attribute__((target("sse4.2")))
uint32_t ccrc32c_hardware_update(uint32_t crc, const void *bytes, size_t length) {
    const unsigned char *p = bytes;
    uint64_t c = crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        length -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (length > 0) {
        c32 = __builtin_ia32_crc32qi(c32, *p++);
        length--;
    }
    return c32;
}
__attribute__((target("sse4.2")))
void ccrc32c_hardware_update3(uint32_t state[3], const void *a, const void *b, const void *c, size_t words) {
    const unsigned char *pa = a, *pb = b, *pc = c;
    uint64_t ca = state[0], cb = state[1], cc = state[2];
    for (size_t i = 0; i < words; i++) {
        uint64_t wa, wb, wc;
        memcpy(&wa, pa + 8 * i, 8);
        memcpy(&wb, pb + 8 * i, 8);
        memcpy(&wc, pc + 8 * i, 8);
        ca = __builtin_ia32_crc32di(ca, wa);
        cb = __builtin_ia32_crc32di(cb, wb);
        cc = __builtin_ia32_crc32di(cc, wc);
    }
    state[0] = (uint32_t)ca;
    state[1] = (uint32_t)cb;
    state[2] = (uint32_t)cc;
}

// One 8-byte word of body = head ++ data ++ zeros at offset i (a multiple
// of 8; the head is a whole number of words).
static inline uint64_t body_word(const unsigned char *head, size_t h, const unsigned char *data, size_t n, size_t i) {
    uint64_t w = 0;
    if (i < h) {
        memcpy(&w, head + i, 8);
    } else if (i - h + 8 <= n) {
        memcpy(&w, data + (i - h), 8);
    } else if (i - h < n) {
        memcpy(&w, data + (i - h), n - (i - h)); // the last word, zero-padded
    }
    return w;
}

// Stores word w at byte d of the destination: through the cache in the
// first `cached` bytes (the line the data shares with the head, which the
// caller flushes with it), non-temporally after them.
static inline void store_word(unsigned char *dst, size_t cached, size_t d, uint64_t w) {
    if (d < cached) memcpy(dst + d, &w, 8);
    else _mm_stream_si64((long long *)(dst + d), (long long)w);
}

// Stores body word i to the destination of the data (the head is not copied).
static inline void put_word(unsigned char *dst, size_t h, size_t cached, size_t i, uint64_t w) {
    if (i >= h) store_word(dst, cached, i - h, w);
}

__attribute__((target("sse4.2")))
void ccrc32c_copy_body_nt(uint32_t sums[3], void *destination, const void *head, size_t h, const void *source, size_t n, size_t cached) {
    unsigned char *dst = destination;
    const unsigned char *hd = head, *src = source;
    size_t total = h + ((n + 7) & ~(size_t)7), part = total / 24 * 8, words = part / 8;
    uint64_t a = 0xFFFFFFFFu, b = 0xFFFFFFFFu, c = 0xFFFFFFFFu, w;
    size_t k = 0;
    // Word k of each stream: a at 8k, b at part + 8k, c at 2 part + 8k.
    // Generic while stream a is in the head; direct while stream c's word is
    // whole data (b lies between a and c); generic for the rest.
    for (; k < words && 8 * k < h; k++) {
        w = body_word(hd, h, src, n, 8 * k); a = __builtin_ia32_crc32di(a, w); put_word(dst, h, cached, 8 * k, w);
        w = body_word(hd, h, src, n, part + 8 * k); b = __builtin_ia32_crc32di(b, w); put_word(dst, h, cached, part + 8 * k, w);
        w = body_word(hd, h, src, n, 2 * part + 8 * k); c = __builtin_ia32_crc32di(c, w); put_word(dst, h, cached, 2 * part + 8 * k, w);
    }
    if (part >= h) {
        for (; k < words && 2 * part + 8 * k + 8 <= h + n; k++) {
            uint64_t wa, wb, wc;
            size_t da = 8 * k - h, db = part + 8 * k - h, dc = 2 * part + 8 * k - h;
            memcpy(&wa, src + da, 8);
            memcpy(&wb, src + db, 8);
            memcpy(&wc, src + dc, 8);
            a = __builtin_ia32_crc32di(a, wa);
            b = __builtin_ia32_crc32di(b, wb);
            c = __builtin_ia32_crc32di(c, wc);
            store_word(dst, cached, da, wa);
            store_word(dst, cached, db, wb);
            store_word(dst, cached, dc, wc);
        }
    }
    for (; k < words; k++) {
        w = body_word(hd, h, src, n, 8 * k); a = __builtin_ia32_crc32di(a, w); put_word(dst, h, cached, 8 * k, w);
        w = body_word(hd, h, src, n, part + 8 * k); b = __builtin_ia32_crc32di(b, w); put_word(dst, h, cached, part + 8 * k, w);
        w = body_word(hd, h, src, n, 2 * part + 8 * k); c = __builtin_ia32_crc32di(c, w); put_word(dst, h, cached, 2 * part + 8 * k, w);
    }
    // Stream c runs to the end of the body.
    for (size_t i = 2 * part + 8 * words; i < total; i += 8) {
        w = body_word(hd, h, src, n, i); c = __builtin_ia32_crc32di(c, w); put_word(dst, h, cached, i, w);
    }
    sums[0] = ~(uint32_t)a;
    sums[1] = ~(uint32_t)b;
    sums[2] = ~(uint32_t)c;
}
#else
int ccrc32c_hardware_available(void) { return 0; }
void ccrc32c_copy_body_nt(uint32_t sums[3], void *destination, const void *head, size_t h, const void *source, size_t n, size_t cached) {
    (void)sums; (void)destination; (void)head; (void)h; (void)source; (void)n; (void)cached;
}
void ccrc32c_hardware_update3(uint32_t state[3], const void *a, const void *b, const void *c, size_t words) {
    (void)state; (void)a; (void)b; (void)c; (void)words;
}
uint32_t ccrc32c_hardware_update(uint32_t crc, const void *bytes, size_t length) {
    (void)bytes; (void)length;
    return crc;
}
#endif
