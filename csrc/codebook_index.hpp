// The writer's codebook discovery: the distinct values of an array and each element's
// index among them, found with a hash table that gives up past a size limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pycodec {

// Distinct values of `values` (elements of `width` = 1, 2, 4 or 8 bytes, compared as
// unsigned integers), sorted, in `book`, and each element's index into it in `indices`
// (n entries). Returns false, leaving the outputs unspecified, as soon as more than
// `max_size` (at most 65536) distinct values are seen.
bool codebook_index(const void* values, size_t n, size_t width, size_t max_size, std::vector<uint64_t>& book,
                    uint16_t* indices);

// How often each distinct value of `values` occurs, in `counts` (in order of first
// appearance), zero left out when `skip_zero`: one hashing pass, for the writer's
// statistics. Returns false as soon as more than `limit` distinct values are seen (0: no
// limit), leaving `counts` unspecified.
bool value_counts(const void* values, size_t n, size_t width, bool skip_zero, size_t limit, std::vector<uint64_t>& counts);

// Whether the n values at 0, step, 2 * step, ... of `values` (elements of `width` bytes)
// are all distinct: one hashing pass that stops at the first repeat (the writer's first
// look at a sample).
bool all_distinct(const void* values, size_t n, size_t width, size_t step);

}  // namespace pycodec
