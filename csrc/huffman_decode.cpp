#include "huffman_decode.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace pycodec {

// ------------------------------------------------------------------ tables

namespace {

constexpr int kMaxMultiU8 = 6;
constexpr int kMaxMultiU16 = 3;
constexpr int kMaxMultiCompact = 3;

std::vector<uint32_t> make_single_table(const CanonicalCode& code, int table_bits) {
    std::vector<uint32_t> single(size_t{1} << table_bits, 0);
    const std::vector<uint32_t> words = canonical_codewords(code);
    for (size_t i = 0; i < code.symbols.size(); ++i) {
        const int shift = table_bits - code.lengths[i];
        const size_t first = size_t{words[i]} << shift;
        const size_t last = size_t{words[i] + 1} << shift;
        const uint32_t entry = code.symbols[i] | (uint32_t{code.lengths[i]} << 16);
        std::fill(single.begin() + static_cast<std::ptrdiff_t>(first),
                  single.begin() + static_cast<std::ptrdiff_t>(last), entry);
    }
    return single;
}

// Greedily decodes whole codes, at most max_count, from each table_bits-wide window; calls
// pack(payload, count, used) for each window's entry.
template <class E, class Pack>
std::vector<E> make_multi_table(const std::vector<uint32_t>& single, int table_bits, int symbol_bits, int max_count,
                                Pack pack) {
    const size_t size = size_t{1} << table_bits;
    const size_t mask = size - 1;
    std::vector<E> multi(size);
    for (size_t window = 0; window < size; ++window) {
        uint64_t payload = 0;
        int used = 0, count = 0;
        while (count < max_count) {
            const uint32_t entry = single[(window << used) & mask];
            const int length = static_cast<int>(entry >> 16);
            if (length > table_bits - used) break;
            payload |= uint64_t{entry & 0xFFFFu} << (count * symbol_bits);
            used += length;
            ++count;
        }
        multi[window] = pack(payload, static_cast<uint64_t>(count), static_cast<uint64_t>(used));
    }
    return multi;
}

// The mean code length (bits) of the distribution the code is optimal for, 2^-length per
// symbol: how many symbols a window holds on average.
double mean_code_length(const CanonicalCode& code) {
    double mean = 0;
    for (uint8_t length : code.lengths) mean += std::ldexp(static_cast<double>(length), -length);
    return mean;
}

// Compact entries (4 bytes, at most 3 symbols) halve the table's cache footprint; they
// lose only where windows often hold more than 3 codes, i.e. short mean code lengths.
constexpr double kMinMeanLengthForCompact = 3.5;
// A wider window holds more codes; 2^12 compact entries are 16 KiB, and their build
// (4096 window decodes) pays for itself from this many symbols on.
constexpr int kWideTableBits = 12;
constexpr uint64_t kMinSymbolsForWideTable = uint64_t{1} << 16;

}  // namespace

DecodeTables make_decode_tables(const CanonicalCode& code, uint64_t symbols) {
    DecodeTables t;
    t.symbol_bits = code.symbol_bits;
    t.complete = code.symbols.size() >= 2;
    t.table_bits = std::max(code.max_length(), kMinTableBits);
    t.compact = t.complete && code.symbol_bits == 8 && mean_code_length(code) >= kMinMeanLengthForCompact;
    if (t.compact && t.table_bits < kWideTableBits && symbols >= kMinSymbolsForWideTable) t.table_bits = kWideTableBits;
    t.single = make_single_table(code, t.table_bits);
    if (!t.complete) return t;
    if (t.compact) {
        t.multi32 = make_multi_table<uint32_t>(t.single, t.table_bits, 8, kMaxMultiCompact,
                                               [](uint64_t payload, uint64_t count, uint64_t used) {
                                                   return static_cast<uint32_t>((count << 30) | (payload << 6) | used);
                                               });
    } else {
        const int max_count = t.symbol_bits == 8 ? kMaxMultiU8 : kMaxMultiU16;
        t.multi = make_multi_table<uint64_t>(t.single, t.table_bits, t.symbol_bits, max_count,
                                             [](uint64_t payload, uint64_t count, uint64_t used) {
                                                 return (count << 61) | (payload << 6) | used;
                                             });
    }
    return t;
}

#include "huffman_decode_kernel.inc"

#ifdef PYCODEC_HAVE_BMI2_KERNEL
PYCODEC_BMI2_BEGIN
#include "huffman_decode_kernel.inc"
PYCODEC_BMI2_END
#endif

namespace {

template <class T>
void decode_dispatch(const DecodeTables& tables, Substream* subs, int k, const uint8_t* readable_end) {
#ifdef PYCODEC_HAVE_BMI2_KERNEL
    if (cpu_has_bmi2()) return bmi2::decode_typed<T>(tables, subs, k, readable_end);
#endif
    decode_typed<T>(tables, subs, k, readable_end);
}

}  // namespace

void decode_substreams(const DecodeTables& tables, Substream* subs, int k, const uint8_t* readable_end) {
    if (k < 1 || k > kMaxSubstreams) throw CorruptStream("substream count outside 1..8");
    if (tables.symbol_bits == 8)
        decode_dispatch<uint8_t>(tables, subs, k, readable_end);
    else
        decode_dispatch<uint16_t>(tables, subs, k, readable_end);
}

}  // namespace pycodec
