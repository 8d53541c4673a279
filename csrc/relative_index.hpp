// Relative-index (gap) coding of the non-zero positions of a flattened tensor, with
// filler entries for long gaps (Deep Compression, section 2; spec/dcz.md).
//
// With M = 2^bits - 1, a decoder keeps a cursor c = 0. An entry e == M is a filler: c += M
// and nothing is placed. An entry e < M places a non-zero at p = c + e, then c = p + 1.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pycodec {

// Number of entries (non-zeros plus fillers) that `positions` need; validates that they
// are non-negative and strictly increasing.
size_t relative_index_length(const int64_t* positions, size_t n, int bits);

// Writes the entries of `positions` to `out` (relative_index_length(...) of them).
void relative_index_encode(const int64_t* positions, size_t n, int bits, uint8_t* out);
void relative_index_encode(const int64_t* positions, size_t n, int bits, uint16_t* out);

// Number of non-filler entries; validates every entry is below 2^bits.
size_t relative_index_count(const uint8_t* entries, size_t n, int bits);
size_t relative_index_count(const uint16_t* entries, size_t n, int bits);

// Decodes positions (relative_index_count(...) of them), each checked against numel.
void relative_index_decode(const uint8_t* entries, size_t n, int bits, uint64_t numel, int64_t* out);
void relative_index_decode(const uint16_t* entries, size_t n, int bits, uint64_t numel, int64_t* out);

}  // namespace pycodec
