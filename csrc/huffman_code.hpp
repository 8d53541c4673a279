// Canonical Huffman codes: symbol counts, length-limited code lengths, canonical code
// assignment and the compact code-table serialization of spec/huffman-stream.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common.hpp"

namespace pycodec {

// A canonical code: the used symbols in ascending order and their code lengths.
struct CanonicalCode {
    int symbol_bits = 8;             // 8 or 16
    std::vector<uint16_t> symbols;   // ascending, distinct
    std::vector<uint8_t> lengths;    // 1..kMaxCodeLength, same order as symbols
    int max_length() const;
};

// Symbol occurrence counts of `n` symbols, written to `counts` (size 256 or 65536).
void histogram_u8(const uint8_t* data, size_t n, uint64_t* counts);
// The same over every `stride`-th byte of `data` (n of them): a byte plane read in place.
void histogram_u8_strided(const uint8_t* data, size_t n, size_t stride, uint64_t* counts);
// The byte histograms of each of the `width` planes (byte k of each element) of n elements
// `stride` bytes apart, added to counts[256 * k + byte], every element read once.
void plane_histograms_strided(const uint8_t* data, size_t n, size_t width, size_t stride, uint64_t* counts);
void histogram_u16(const uint16_t* data, size_t n, uint64_t* counts);

// A table of `n` occurrence counts: the symbols used, their total, and the Shannon bound
// of coding them, sum(c * log2(total / c)) bits (no code is shorter).
struct CountsEntropy {
    uint64_t distinct = 0;
    uint64_t total = 0;
    double bits = 0;
};
CountsEntropy counts_entropy(const uint64_t* counts, size_t n);

// Calls fn(i) for every index of `counts` (n entries) but those in blocks of 8 zero counts:
// a wide alphabet's table (a 2-byte tensor's 65,536 patterns) is mostly zeros, in long
// runs, skipped at one test a block.
template <class Count, class Fn>
void for_each_in_used_blocks(const Count* counts, size_t n, Fn&& fn) {
    const size_t whole = n - n % 8;
    for (size_t i = 0; i < whole; i += 8) {  // fixed-size blocks: the test and the calls unroll
        Count any = 0;
        for (size_t j = 0; j < 8; ++j) any |= counts[i + j];
        if (!any) continue;
        for (size_t j = 0; j < 8; ++j) fn(i + j);
    }
    for (size_t i = whole; i < n; ++i) fn(i);
}

// The (2 x 256) byte-plane histograms of 2-byte elements, low byte first, from the counts
// of their 65,536 bit patterns (index = pattern).
void pattern_plane_histograms(const uint64_t* patterns, uint64_t* low, uint64_t* high);

// What the writer's statistics need of 2-byte elements, in one count and one walk: both
// planes' histograms (low byte first), the zero elements, and the distinct non-zero bit
// patterns' count, total and entropy. The 65,536 counts stay in a table of this thread's,
// cleared as it is read (allocating and zeroing one per tensor cost as much as counting).
struct PatternStatistics {
    uint64_t low[256] = {};
    uint64_t high[256] = {};
    uint64_t zeros = 0;
    CountsEntropy nonzero;
};
// `used`, where given, receives the count of every pattern that occurs, in pattern order
// (the 65,536 counts without their zeros: what a codebook of them is sized from).
PatternStatistics pattern_statistics(const uint16_t* bits, size_t n, std::vector<uint64_t>* used = nullptr);

// Optimal code lengths with no code longer than `max_length` (package-merge), for
// `counts` over an alphabet of counts.size() symbols; 0 for unused symbols. The limit is
// raised to ceil(log2(used)) when it is too small; a lone used symbol gets length 1.
std::vector<uint8_t> limited_code_lengths(const std::vector<uint64_t>& counts, int max_length);

// The coded bits (sum of count x length) of those lengths, for sizing: an unlimited
// Huffman code's where no code of it is longer than the limit (both are optimal then, so
// their totals agree though tied lengths may differ), else package-merge's. Several
// times faster on thousands of symbols (the codebook candidate of a 2-byte tensor).
uint64_t limited_code_bits(const std::vector<uint64_t>& counts, int max_length);

// A lower bound of limited_code_bits for any limit, in a sort and a linear pass: an
// unlimited Huffman code's total (no prefix code takes fewer bits), the first step of
// limited_code_bits too. 0 past a total of 2^59 counts. Lets a caller rule a code out
// without package-merge.
uint64_t unlimited_code_bits(const std::vector<uint64_t>& counts);

// The canonical code for per-symbol lengths (0 = unused) over a 2^symbol_bits alphabet.
CanonicalCode code_from_lengths(const std::vector<uint8_t>& lengths, int symbol_bits);

// Validates symbols ascending and in range, lengths in range, Kraft equality (n >= 2).
void validate_code(const CanonicalCode& code);

// Canonical codewords, in the order of code.symbols (RFC 1951 3.2.2 assignment).
std::vector<uint32_t> canonical_codewords(const CanonicalCode& code);

size_t serialized_code_size(const CanonicalCode& code);
void serialize_code(const CanonicalCode& code, ByteWriter& out);
// Parses and validates a code table for symbols of `symbol_bits` bits.
CanonicalCode parse_code(ByteReader& in, int symbol_bits);

}  // namespace pycodec
