// Turning (codebook, indices, positions) back into a dense array, by bit pattern.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pycodec {

// A codebook of `size` elements of `width` bytes (1, 2, 4 or 8).
struct Codebook {
    const void* data;
    size_t size;
    size_t width;
};

// Index arrays are uint8 or uint16; `index_width` says which.
struct Indices {
    const void* data;
    size_t count;
    size_t width;
};

// out[i] = codebook[indices[i]] for every element (out holds indices.count elements).
void gather(const Codebook& book, const Indices& idx, void* out);

// out[positions[i]] = codebook[indices[i]]; out (numel elements) must already be zeroed.
void scatter(const Codebook& book, const Indices& idx, const int64_t* positions, uint64_t numel, void* out);

// scatter() with positions decoded on the fly from relative-index entries.
void sparse_scatter(const Codebook& book, const Indices& idx, const Indices& entries, int bits, uint64_t numel,
                    void* out);

}  // namespace pycodec
