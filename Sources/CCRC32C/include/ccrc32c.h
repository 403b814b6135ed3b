// Layer 1: CRC-32C with the SSE4.2 crc32 instruction, which Swift cannot
// emit itself. Swift's table-driven CRC32C is the fallback and the reference.
#ifndef SWIFT_PMEM_CCRC32C_H
#define SWIFT_PMEM_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has the crc32 instruction (SSE4.2).
int ccrc32c_hardware_available(void);

/// What ccrc32c_hardware_available() and ccrc32c_fold_available() (and
/// the former) answered, asked once when the library is loaded: bit 0 the
/// crc32 instruction, bit 1 the fold. A load, where Swift's lazy globals
/// cost a call on every checksum of the commit path.
extern int ccrc32c_cpu_features_;
static inline int ccrc32c_cpu_features(void) { return ccrc32c_cpu_features_; }

/// Continues a CRC-32C over `length` bytes: `crc` is the running value
/// without the final inversion (start from 0xFFFFFFFF; invert at the end).
/// Call only when ccrc32c_hardware_available() returned 1.
uint32_t ccrc32c_hardware_update(uint32_t crc, const void *bytes, size_t length);

/// Checks `count` little-endian 8-byte words, each a 32-bit value in its low
/// half and in its high half the CRC-32C (final, inverted) of the 8 bytes
/// `key ++ value` (each 32-bit little-endian), where word i's key is
/// `first_key + i`: the shape of a page-table entry. Stores each value into
/// `values[i]`; returns `count`, or the index of the first word whose CRC
/// does not match. Call only when ccrc32c_hardware_available() returned 1.
size_t ccrc32c_check_keyed_words(const void *words, uint32_t first_key, size_t count, int64_t *values);

/// The raw (not inverted) CRC-32C states of three equal-length streams
/// a, b, c of `words` 8-byte words each, updated together: three independent
/// chains hide the crc32 instruction's 3-cycle latency (one per cycle).
void ccrc32c_hardware_update3(uint32_t state[3], const void *a, const void *b, const void *c, size_t words);

/// Copies the data of a commit record's body, `head ++ data ++ zeros` to a
/// whole number of 8-byte words, and checksums the body in three parts as
/// `CRC32C.threeParts` splits it (final values, inverted). The head (`h`
/// bytes, a multiple of 8) is read, not copied; the data goes to
/// `destination` (8-byte aligned: where the body's byte `h` is) with
/// non-temporal 8-byte stores, its last word zero-padded, so that every
/// byte of it is read once and no line of it needs a flush: a fence makes
/// it durable. Except the first `cached` bytes of the destination (a
/// multiple of 8): those are stored through the cache, for the caller to
/// flush with the head's line, which they share (a line written both ways
/// would reach the media twice). Call only when ccrc32c_hardware_available()
/// returned 1.
void ccrc32c_copy_body_nt(uint32_t sums[3], void *destination, const void *head, size_t h, const void *source, size_t n, size_t cached);

/// Whether this CPU and OS can fold with AVX-512 VPCLMULQDQ (the
/// ccrc32c_fold_* functions): 512-bit carry-less multiplies, about six
/// times the speed of the crc32 instruction over long inputs.
int ccrc32c_fold_available(void);

/// ccrc32c_hardware_update, folding 64 bytes at a time with carry-less
/// multiplies over inputs of 256 bytes and more. Same values. Call only
/// when ccrc32c_fold_available() returned 1.
uint32_t ccrc32c_fold_update(uint32_t crc, const void *bytes, size_t length);

/// ccrc32c_copy_body_nt, each part folded with carry-less multiplies and the
/// data copied with 64-byte non-temporal stores where it is whole lines of
/// the destination. Same stores to the same bytes, same values. Call only
/// when ccrc32c_fold_available() returned 1.
void ccrc32c_copy_body_fold(uint32_t sums[3], void *destination, const void *head, size_t h, const void *source, size_t n, size_t cached);

#endif
