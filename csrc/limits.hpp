// The one table of limits: the .dcz format's (spec/dcz.md section 6), the Huffman
// stream's (spec/huffman-stream.md) and the encoder's defaults. bindings.cpp exports it
// as pycodec._core.LIMITS; pycodec/format/limits.py and pycodec/codec.py read it there.
#pragma once

#include <cstdint>

namespace pycodec {

// ------------------------------------------------------------------ Huffman stream
constexpr int kMaxCodeLength = 16;
constexpr int kMaxSubstreams = 8;
// ------------------------------------------------------------------ encoder and decoder defaults
constexpr int kDefaultMaxCodeLength = 11;
constexpr int kMinTableBits = 11;           // decoder tables are at least this wide
constexpr uint64_t kDefaultMaxSymbols = uint64_t{1} << 28;
constexpr uint64_t kMultiStreamThreshold = 4096;  // encoder writes 4 substreams from here
constexpr int kEncoderSubstreams = 4;
// ------------------------------------------------------------------ .dcz format
constexpr uint64_t kPreambleSize = 32;
constexpr uint64_t kMinHeaderLength = 2;     // the shortest JSON object, "{}"
constexpr uint64_t kMaxHeaderLength = uint64_t{1} << 24;
constexpr uint64_t kMaxHeaderDepth = 4;      // object > array > object > object/array
constexpr uint64_t kMaxFileLength = uint64_t{1} << 48;
constexpr uint64_t kMaxTensors = 65536;
constexpr uint64_t kMaxMetadataEntries = 4096;
constexpr uint64_t kMaxMetadataKeyBytes = 256;
constexpr uint64_t kMaxMetadataValueBytes = 65536;
constexpr uint64_t kMaxNameBytes = 1024;
constexpr uint64_t kMaxRank = 16;
constexpr uint64_t kMaxDim = uint64_t{1} << 40;
constexpr uint64_t kMaxNumel = uint64_t{1} << 40;
constexpr uint64_t kMaxCodebookSize = 65536;
constexpr int kMinIndexBits = 1;
constexpr int kMaxIndexBits = 16;
constexpr int kMaxPlanes = 8;  // planes encoding: byte planes per element (float64)
constexpr uint64_t kMaxIntDigits = 20;       // JSON integers: enough for any u64
constexpr uint64_t kRawAlignment = 64;
// ------------------------------------------------------------------ policy
constexpr uint64_t kDefaultMaxDecodedBytes = uint64_t{1} << 32;

struct LimitEntry {
    const char* name;
    uint64_t value;
};

// Names as Python sees them (pycodec.format.limits / pycodec.codec constants).
constexpr LimitEntry kLimits[] = {
    {"MAX_CODE_LENGTH", kMaxCodeLength},
    {"MAX_SUBSTREAMS", kMaxSubstreams},
    {"DEFAULT_MAX_CODE_LENGTH", kDefaultMaxCodeLength},
    {"DEFAULT_MAX_SYMBOLS", kDefaultMaxSymbols},
    {"MULTI_STREAM_THRESHOLD", kMultiStreamThreshold},
    {"ENCODER_SUBSTREAMS", kEncoderSubstreams},
    {"PREAMBLE_SIZE", kPreambleSize},
    {"MIN_HEADER_LENGTH", kMinHeaderLength},
    {"MAX_HEADER_LENGTH", kMaxHeaderLength},
    {"MAX_HEADER_DEPTH", kMaxHeaderDepth},
    {"MAX_FILE_LENGTH", kMaxFileLength},
    {"MAX_TENSORS", kMaxTensors},
    {"MAX_METADATA_ENTRIES", kMaxMetadataEntries},
    {"MAX_METADATA_KEY_BYTES", kMaxMetadataKeyBytes},
    {"MAX_METADATA_VALUE_BYTES", kMaxMetadataValueBytes},
    {"MAX_NAME_BYTES", kMaxNameBytes},
    {"MAX_RANK", kMaxRank},
    {"MAX_DIM", kMaxDim},
    {"MAX_NUMEL", kMaxNumel},
    {"MAX_CODEBOOK_SIZE", kMaxCodebookSize},
    {"MIN_INDEX_BITS", kMinIndexBits},
    {"MAX_INDEX_BITS", kMaxIndexBits},
    {"MAX_PLANES", kMaxPlanes},
    {"MAX_INT_DIGITS", kMaxIntDigits},
    {"RAW_ALIGNMENT", kRawAlignment},
    {"DEFAULT_MAX_DECODED_BYTES", kDefaultMaxDecodedBytes},
};

}  // namespace pycodec
