// Table-driven decoding of bit-packed canonical Huffman substreams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "huffman_code.hpp"

namespace pycodec {

// Lookup tables indexed by the next `table_bits` bits of a substream.
//  single: (symbol | length << 16) of the first code in the window;
//  multi:  as many whole codes as fit in the window (at most 6 uint8 or 3 uint16 symbols):
//          the symbols packed little-endian in bytes 0..5, the bits consumed in byte 6,
//          the symbol count in byte 7 (each field a plain load for the decoder: no shifts
//          or masks on its critical path);
//  multi32 (compact, uint8 symbols, used instead of multi): at most 2 symbols in bytes
//          0..1, the bits consumed in byte 2, the count in byte 3.
struct DecodeTables {
    int table_bits = 0;
    int symbol_bits = 8;
    bool complete = true;  // false only for a lone symbol (code "0"; "1" is invalid)
    bool compact = false;  // multi32 instead of multi
    std::vector<uint32_t> single;
    std::vector<uint64_t> multi;
    std::vector<uint32_t> multi32;
};

// The table width and entry layout for decoding `symbols` symbols of `code`: the one a
// cost model of the 4-lane loop (expected codes per lookup, lookups per refill, entry and
// table size) expects to decode fastest. A short stream gets the narrowest table (the
// cheapest to build).
struct TableLayout {
    int bits;
    bool compact;
};
TableLayout choose_table_layout(const CanonicalCode& code, uint64_t symbols);

DecodeTables make_decode_tables(const CanonicalCode& code, uint64_t symbols = 0);

// One substream to decode: `size` bytes at `data` give exactly `count` symbols.
struct Substream {
    const uint8_t* data;
    size_t size;
    void* out;     // uint8_t* or uint16_t*, per the tables' symbol width
    size_t count;
};

// Decodes every substream (interleaving them for speed), reading no byte at or past
// `readable_end` (the end of the caller's buffer, at or after every substream's end).
// Throws CorruptStream if a substream's codes overrun it, leave bytes unused, or end in
// non-zero padding.
void decode_substreams(const DecodeTables& tables, Substream* subs, int k, const uint8_t* readable_end);

}  // namespace pycodec
