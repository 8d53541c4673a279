// Relative-index (gap) coding of the non-zero positions of a flattened tensor, with
// filler entries for long gaps (Deep Compression, section 2; spec/dcz.md).
//
// With M = 2^bits - 1, a decoder keeps a cursor c = 0. An entry e == M is a filler: c += M
// and nothing is placed. An entry e < M places a non-zero at p = c + e, then c = p + 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pycodec {

// Number of entries (non-zeros plus fillers) that `positions` need; validates that they
// are non-negative and strictly increasing.
size_t relative_index_length(const int64_t* positions, size_t n, int bits);

// Writes the entries of `positions` to `out`: `length` of them (relative_index_length), or
// DataChanged, without writing past them, when the positions no longer give that many.
void relative_index_encode(const int64_t* positions, size_t n, int bits, uint8_t* out, size_t length);
void relative_index_encode(const int64_t* positions, size_t n, int bits, uint16_t* out, size_t length);

// Number of non-filler entries; validates every entry is below 2^bits.
size_t relative_index_count(const uint8_t* entries, size_t n, int bits);
size_t relative_index_count(const uint16_t* entries, size_t n, int bits);

// Decodes positions (relative_index_count(...) of them), each checked against numel.
void relative_index_decode(const uint8_t* entries, size_t n, int bits, uint64_t numel, int64_t* out);
void relative_index_decode(const uint16_t* entries, size_t n, int bits, uint64_t numel, int64_t* out);

}  // namespace pycodec

namespace pycodec {

// One pass over a tensor's element bits (unsigned integers of the element's width) for the
// writer's statistics: the positions of the non-zero elements, their values, and the
// histogram of the gaps (zeros skipped) between them, gaps of `cap` or more listed apart.
// `positions` and `values` need room for `nnz` + 1 entries, nnz = count_nonzero(...):
// DataChanged if the scan finds another count.
size_t count_nonzero(const void* bits, size_t n, size_t width);
void nonzero_scan(const void* bits, size_t n, size_t width, size_t nnz, int64_t* positions, void* values,
                  uint64_t* gap_histogram, size_t cap, std::vector<int64_t>& long_gaps);

}  // namespace pycodec

namespace pycodec {

// The gap width (bits) whose stream of entries is smallest and that stream's planned
// size, for gaps given as a histogram of the short ones (index = gap) and a list of the
// long ones: every width from kMinIndexBits to the widest any gap needs, ranked by an
// order-0 estimate (each entry at least one bit, plus the code table's rough cost), and
// those within `margin` of the best estimate sized by the stream planner (ties: fewer
// bits). What the writer's sparse encodings store their positions with.
struct GapWidth {
    int bits;
    uint64_t size;
};
GapWidth plan_gap_width(const uint64_t* histogram, size_t h, const int64_t* long_gaps, size_t l, double margin,
                        int max_code_length);

}  // namespace pycodec
