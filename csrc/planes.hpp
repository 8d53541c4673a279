// Byte planes of fixed-width elements (spec/dcz.md 5.7): plane k holds byte k (little-
// endian) of every element. The chosen planes become Huffman streams, each kept only if
// shorter than the plane; the others are stored raw; all in one section, in plane order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "huffman_stream.hpp"

namespace pycodec {

struct PlanesPlan {
    const uint8_t* elements = nullptr;
    size_t count = 0;                          // elements
    int itemsize = 0;
    std::vector<std::unique_ptr<uint8_t[]>> planes;  // the coded planes' bytes, split out
    std::vector<StreamLayout> layouts;         // planned streams (coded planes only)
    std::vector<uint64_t> stream_bytes;        // per plane: its stream's length, 0 = raw
    std::vector<size_t> offsets;               // where each plane starts; back() = the section's size
    size_t total_bytes() const { return offsets.back(); }
};

// Plans a stream for each plane of `count` elements of `itemsize` bytes (1, 2, 4 or 8)
// whose bit is set in `coded_mask`, on up to `threads` threads. The elements must outlive
// the plan: planes stored raw are split from them straight into the output.
PlanesPlan plan_planes(const uint8_t* elements, size_t count, int itemsize, unsigned coded_mask,
                       int max_code_length, int threads);

// Writes the section into `out` (total_bytes() + 8 bytes: the bit writer's spill).
void write_planes(const PlanesPlan& plan, uint8_t* out, int threads);

// Decoding's last step: element j's byte k is byte j of plane k, for `width` planes of
// `count` bytes each (1, 2, 4 or 8), written to `out` (count * width bytes).
void join_planes(const uint8_t* const* planes, int width, size_t count, uint8_t* out);

}  // namespace pycodec
