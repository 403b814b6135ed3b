#include "ccrc32c.h"
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#if defined(__x86_64__)
int ccrc32c_hardware_available(void) {
    __builtin_cpu_init();
    return !!__builtin_cpu_supports("sse4.2"); // gcc answers 256, the header promises 1
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
// Each word checked on its own: the crc32 instructions of successive words
// do not depend on each other, so they overlap (about one word a cycle).
__attribute__((target("sse4.2")))
size_t ccrc32c_check_keyed_words(const void *words, uint32_t first_key, size_t count, int64_t *values) {
    const unsigned char *p = words;
    for (size_t i = 0; i < count; i++) {
        uint64_t w;
        memcpy(&w, p + 8 * i, 8);
        uint32_t value = (uint32_t)w;
        uint64_t message = (uint64_t)(uint32_t)(first_key + (uint32_t)i) | (uint64_t)value << 32;
        uint32_t crc = ~(uint32_t)__builtin_ia32_crc32di(0xFFFFFFFFu, message);
        if ((uint32_t)(w >> 32) != crc) return i;
        values[i] = value;
    }
    return count;
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
// ---- Folding with carry-less multiplies (AVX-512 VPCLMULQDQ) ----
//
// CRC-32C is the message, as a polynomial over GF(2), times x^32 modulo P.
// So any block V of the message may be replaced by V·x^D mod P placed D
// bits further on without changing the CRC: that is a "fold". A 128-bit
// lane holds two 64-bit halves (the first the higher powers, bits
// reflected), and V·x^D = lo·x^(D+64) + hi·x^D: two carry-less 64×32-bit
// multiplies by constants x^(D+63) and x^(D-1) mod P (one less than the
// power, because a reflected carry-less product comes out one bit up).
// Sixteen lanes (four 512-bit registers) fold 256 bytes ahead per step, then
// fold onto each other, and the last 16 bytes go through the crc32
// instruction. The values are CRC-32C's, so the format does not change; the
// tests compare them with the table.
#define FOLD_TARGET __attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2")))
// A lane's constants: (x^(D-1), x^(D+63)) mod P, each reflected in the top
// half of a 64-bit word.
#define FOLD_CONSTANTS(hi, lo) \
    _mm512_broadcast_i32x4(_mm_set_epi64x((long long)((uint64_t)(hi) << 32), (long long)((uint64_t)(lo) << 32)))
#define FOLD_CONSTANT(k) ((long long)((uint64_t)(k) << 32))

int ccrc32c_fold_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_OSXSAVE) || !(c & bit_SSE4_2) || !(c & bit_PCLMUL)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xE6) != 0xE6) return 0; // the OS saves the SSE, AVX and AVX-512 registers
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX512F) && (c & bit_VPCLMULQDQ);
}

FOLD_TARGET static inline __m512i fold_lanes(__m512i x, __m512i k) {
    return _mm512_xor_si512(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11));
}

FOLD_TARGET static inline void stream_line(unsigned char *dst, __m512i v) {
    if (dst) _mm512_stream_si512((void *)dst, v);
}

// The raw CRC state over `length` bytes (a multiple of 64, at least 256)
// from `crc`; stored to `dst` (64-byte aligned) with non-temporal stores
// as read, unless dst is NULL.
FOLD_TARGET static uint32_t fold(uint32_t crc, unsigned char *dst, const unsigned char *src, size_t length) {
    const __m512i ahead256 = FOLD_CONSTANTS(0x1426a815u, 0xe9a5d8beu); // x^2047, x^2111
    const __m512i ahead64 = FOLD_CONSTANTS(0x75bba45bu, 0x1c19243bu);  // x^511, x^575
    __m512i x0 = _mm512_loadu_si512(src), x1 = _mm512_loadu_si512(src + 64);
    __m512i x2 = _mm512_loadu_si512(src + 128), x3 = _mm512_loadu_si512(src + 192);
    stream_line(dst, x0); stream_line(dst ? dst + 64 : 0, x1);
    stream_line(dst ? dst + 128 : 0, x2); stream_line(dst ? dst + 192 : 0, x3);
    // The running state is the same as XOR-ing it into the first 4 bytes
    // (zero-extended: a cast would leave the upper lanes undefined).
    x0 = _mm512_xor_si512(x0, _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)crc)));
    size_t i = 256;
    for (; i + 256 <= length; i += 256) {
        __m512i y0 = _mm512_loadu_si512(src + i), y1 = _mm512_loadu_si512(src + i + 64);
        __m512i y2 = _mm512_loadu_si512(src + i + 128), y3 = _mm512_loadu_si512(src + i + 192);
        stream_line(dst ? dst + i : 0, y0); stream_line(dst ? dst + i + 64 : 0, y1);
        stream_line(dst ? dst + i + 128 : 0, y2); stream_line(dst ? dst + i + 192 : 0, y3);
        // 0x96: three-way XOR of the two products and the new data.
        x0 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x0, ahead256, 0x00), _mm512_clmulepi64_epi128(x0, ahead256, 0x11), y0, 0x96);
        x1 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x1, ahead256, 0x00), _mm512_clmulepi64_epi128(x1, ahead256, 0x11), y1, 0x96);
        x2 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x2, ahead256, 0x00), _mm512_clmulepi64_epi128(x2, ahead256, 0x11), y2, 0x96);
        x3 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x3, ahead256, 0x00), _mm512_clmulepi64_epi128(x3, ahead256, 0x11), y3, 0x96);
    }
    x1 = _mm512_xor_si512(x1, fold_lanes(x0, ahead64));
    x2 = _mm512_xor_si512(x2, fold_lanes(x1, ahead64));
    x3 = _mm512_xor_si512(x3, fold_lanes(x2, ahead64));
    for (; i + 64 <= length; i += 64) {
        __m512i y = _mm512_loadu_si512(src + i);
        stream_line(dst ? dst + i : 0, y);
        x3 = _mm512_xor_si512(y, fold_lanes(x3, ahead64));
    }
    // Lanes 0, 1, 2 folded 48, 32, 16 bytes ahead onto lane 3.
    const __m512i onto_last = _mm512_set_epi64(0, 0, FOLD_CONSTANT(0x3171d430u), FOLD_CONSTANT(0x3743f7bdu),  // x^127, x^191
                                               FOLD_CONSTANT(0xa2158b34u), FOLD_CONSTANT(0x33ccbbbcu),        // x^255, x^319
                                               FOLD_CONSTANT(0x6051243fu), FOLD_CONSTANT(0xa46ef4aau));       // x^383, x^447
    __m512i t = fold_lanes(x3, onto_last);
    __m128i s = _mm_xor_si128(_mm_xor_si128(_mm512_extracti32x4_epi32(t, 0), _mm512_extracti32x4_epi32(t, 1)),
                              _mm_xor_si128(_mm512_extracti32x4_epi32(t, 2), _mm512_extracti32x4_epi32(x3, 3)));
    uint64_t c = __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(s));
    return (uint32_t)__builtin_ia32_crc32di(c, (uint64_t)_mm_extract_epi64(s, 1));
}

FOLD_TARGET uint32_t ccrc32c_fold_update(uint32_t crc, const void *bytes, size_t length) {
    const unsigned char *p = bytes;
    if (length >= 256) {
        size_t folded = length & ~(size_t)63;
        crc = fold(crc, 0, p, folded);
        p += folded;
        length -= folded;
    }
    return ccrc32c_hardware_update(crc, p, length);
}

FOLD_TARGET void ccrc32c_copy_body_fold(uint32_t sums[3], void *destination, const void *head, size_t h, const void *source, size_t n, size_t cached) {
    unsigned char *dst = destination;
    const unsigned char *hd = head, *src = source;
    size_t total = h + ((n + 7) & ~(size_t)7), part = total / 24 * 8;
    size_t whole = h + (n & ~(size_t)7); // where the data's whole words end
    size_t bounds[4] = {0, part, 2 * part, total};
    for (int p = 0; p < 3; p++) {
        uint64_t c = 0xFFFFFFFFu;
        size_t i = bounds[p], e = bounds[p + 1], end = e < whole ? e : whole;
        for (; i < e && i < h; i += 8) c = __builtin_ia32_crc32di(c, body_word(hd, h, src, n, i)); // read, not copied
        // Word by word to the first line of the destination that is past
        // the cached bytes; folded from there in whole lines.
        for (; i < end && (i - h < cached || ((uintptr_t)(dst + (i - h)) & 63)); i += 8) {
            uint64_t w;
            memcpy(&w, src + (i - h), 8);
            c = __builtin_ia32_crc32di(c, w);
            store_word(dst, cached, i - h, w);
        }
        if (i < end && end - i >= 256) {
            size_t folded = (end - i) & ~(size_t)63;
            c = fold((uint32_t)c, dst + (i - h), src + (i - h), folded);
            i += folded;
        }
        for (; i < e; i += 8) {
            uint64_t w = body_word(hd, h, src, n, i);
            c = __builtin_ia32_crc32di(c, w);
            put_word(dst, h, cached, i, w);
        }
        sums[p] = ~(uint32_t)c;
    }
}
#else
int ccrc32c_hardware_available(void) { return 0; }
int ccrc32c_fold_available(void) { return 0; }
uint32_t ccrc32c_fold_update(uint32_t crc, const void *bytes, size_t length) {
    (void)bytes; (void)length;
    return crc;
}
void ccrc32c_copy_body_fold(uint32_t sums[3], void *destination, const void *head, size_t h, const void *source, size_t n, size_t cached) {
    (void)sums; (void)destination; (void)head; (void)h; (void)source; (void)n; (void)cached;
}
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
size_t ccrc32c_check_keyed_words(const void *words, uint32_t first_key, size_t count, int64_t *values) {
    (void)words; (void)first_key; (void)values;
    return count;
}
#endif

int ccrc32c_cpu_features_ = 0;

__attribute__((constructor)) static void ccrc32c_detect_cpu_features(void) {
    int hardware = ccrc32c_hardware_available();
    ccrc32c_cpu_features_ = hardware | (hardware && ccrc32c_fold_available() ? 2 : 0);
}
