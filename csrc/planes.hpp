// Byte planes of fixed-width elements (spec/dcz.md 5.7): plane k holds byte k (little-
// endian) of every element. The chosen planes become Huffman streams, each kept only if
// it saves enough (plane_worth_coding); the others are stored raw; all in one section,
// in plane order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "huffman_stream.hpp"

namespace pycodec {

// Whether elements of `width` bytes can be split into planes: 1, 2, 4 or 8.
inline bool is_plane_width(size_t width) { return width == 1 || width == 2 || width == 4 || width == 8; }

// Whether a plane of `count` bytes is coded as a stream of `stream_bytes` (spec W5): it must
// save at least count/128 + 2 bytes (zstd's rule for its literals at its strongest levels),
// since a plane that barely shrinks (a float's high mantissa byte, ~0.05%) still costs a
// full Huffman decode on every load.
inline bool plane_worth_coding(uint64_t stream_bytes, uint64_t count) {
    return stream_bytes + (count >> 7) + 2 <= count;
}

struct PlanesPlan {
    const uint8_t* elements = nullptr;
    size_t count = 0;                          // elements
    int itemsize = 0;
    std::vector<StreamLayout> layouts;         // planned streams (coded planes only)
    std::vector<uint64_t> stream_bytes;        // per plane: its stream's length, 0 = raw
    std::vector<size_t> offsets;               // where each plane starts; back() = the section's size
    size_t total_bytes() const { return offsets.back(); }
};

// Plans a stream for each plane of `count` elements of `itemsize` bytes (1, 2, 4 or 8)
// whose bit is set in `coded_mask`, on up to `threads` threads. The elements must outlive
// the plan: streams are coded from them in place, raw planes split straight into the output.
// `segment_counts`, where the caller has counted them: plane k's segment histograms
// (segment_histograms) at segment_counts + k * encoder_segments(count) * 256, not counted
// again. Stale counts make writing report DataChanged, as symbols changed after counting do.
PlanesPlan plan_planes(const uint8_t* elements, size_t count, int itemsize, unsigned coded_mask,
                       int max_code_length, int threads, const uint64_t* segment_counts = nullptr);

// The writer's estimate of each plane's stream, without the elements: `planes` rows of
// 256 byte counts (a sample's) scaled by `scale` (rounded half to even, a count seen once
// kept at 1 or more) and planned. A plane not worth coding (W5) is reported at its raw
// size, `numel`; one that W5 rules out on its entropy alone (no stream is shorter) is not
// planned at all.
std::vector<uint64_t> plan_plane_sizes(const uint64_t* histograms, size_t planes, double scale, uint64_t numel,
                                       int max_code_length);

// Writes the section into `out` (total_bytes() + 8 bytes: the bit writer's spill).
void write_planes(const PlanesPlan& plan, uint8_t* out, int threads);

// One plane of a section to decode: a parsed stream of `count` 8-bit symbols (`stream`
// set; `data`/`size` its bytes, the stream's header included), or `count` raw bytes.
struct PlaneSource {
    const StreamLayout* stream = nullptr;
    const uint8_t* data = nullptr;
    size_t size = 0;
};

// Decodes `width` planes (1, 2, 4 or 8) of `count` elements into `out` (count * width
// bytes): the coded planes on up to `threads` threads (a plane split in two when threads
// outnumber them), then the join, split by element ranges.
void decode_planes(const std::vector<PlaneSource>& planes, size_t count, uint8_t* out, int threads);

}  // namespace pycodec
