// The self-describing Huffman stream of spec/huffman-stream.md: planning and writing
// (encode), parsing, validating and decoding (decode).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "huffman_code.hpp"
#include "huffman_decode.hpp"
#include "huffman_encode.hpp"

namespace pycodec {

enum class StreamMode : int { kEmpty = 0, kSingle = 1, kHuffman = 2 };

// Everything known about a stream before its payload is written or decoded.
struct StreamLayout {
    int symbol_bits = 8;
    StreamMode mode = StreamMode::kEmpty;
    uint64_t count = 0;
    uint16_t single_symbol = 0;
    CanonicalCode code;                        // Huffman mode only
    int substreams = 0;                        // Huffman mode only
    uint64_t sizes[kMaxSubstreams] = {};       // bytes of each substream
    size_t header_bytes = 0;                   // everything before the first substream
    size_t total_bytes = 0;
};

// Encoding: plan (histograms, code, exact sizes), then write into total_bytes + 8 bytes.
// Should the symbols change in between (another thread writing the array), write_stream
// stays within those bytes and reports DataChanged.
// 8-bit symbols may be `stride` bytes apart (a byte plane read in place from its elements).
StreamLayout plan_stream(const uint8_t* src, size_t n, int max_code_length, size_t stride = 1);
StreamLayout plan_stream(const uint16_t* src, size_t n, int max_code_length);
// The same for 8-bit symbols already counted: `segment_counts` holds the 256 counts of each
// of the encoder_segments(n) segments of the n symbols, in order (segment_histograms').
StreamLayout plan_stream_from_segments(const uint64_t* segment_counts, size_t n, int max_code_length);

// How many substreams (segments of the symbols, split evenly) the encoder writes for n
// symbols, and where segment i starts (i = segments: n).
int encoder_segments(uint64_t n);
uint64_t segment_begin(uint64_t n, int i);
// The 256 counts of each segment of n byte symbols `stride` bytes apart, in order:
// encoder_segments(n) * 256 counts, added to `counts`.
void segment_histograms(const uint8_t* src, size_t n, size_t stride, uint64_t* counts);
// `threads` >= 2: the second half of the substreams is coded on another thread. `stride`:
// as planned (8-bit symbols only).
void write_stream(const StreamLayout& layout, const void* src, uint8_t* out, int threads = 1, size_t stride = 1);
// Sizing without the symbols: the same plan from whole-stream counts (of symbols 0, 1, ...:
// at most the alphabet's, those past the end unused),
// its substream sizes split evenly (total_bytes exact up to a byte per substream). Its
// code lists the symbols without lengths: a plan to size, not to write.
// `floor`: the coded bits taken from unlimited_code_bits, so total_bytes is a lower bound
// of the plan's (exact where no code is longer than the limit).
StreamLayout plan_stream_from_counts(const std::vector<uint64_t>& counts, int symbol_bits, int max_code_length,
                                     bool floor = false);
// The planned stream's total_bytes for `counts`; false where it is certainly above
// `at_most` (a floor plan says so first: the writer sizes candidates that cannot win;
// at_most = UINT64_MAX: no bound, no floor plan).
bool plan_size_at_most(const std::vector<uint64_t>& counts, int symbol_bits, int max_code_length, uint64_t at_most,
                       uint64_t& size);

// Decoding: parse and validate the header against the bytes present and max_symbols,
// then decode into `out` (layout.count symbols of layout.symbol_bits bits).
StreamLayout parse_stream(const uint8_t* data, size_t size, uint64_t max_symbols);
void decode_stream(const StreamLayout& layout, const uint8_t* data, size_t size, void* out);
// The same in parts, so that threads can share one Huffman-mode stream: its tables once,
// then substreams [first, first + n) decoded into their places in `out` (the whole
// stream's output). Parts write disjoint bytes of `out`.
DecodeTables stream_tables(const StreamLayout& layout);
void decode_substream_range(const StreamLayout& layout, const DecodeTables& tables, const uint8_t* data,
                            size_t size, void* out, int first, int n);

// Bytes of a parsed stream's substreams (everything after the header).
uint64_t payload_bytes(const StreamLayout& layout);

}  // namespace pycodec
