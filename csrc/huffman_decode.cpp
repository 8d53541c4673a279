#include "huffman_decode.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace pycodec {

// ------------------------------------------------------------------ tables

namespace {

constexpr int kMaxMultiU8 = 6;
constexpr int kMaxMultiU16 = 3;
constexpr int kMaxMultiCompact = 2;

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

// The expected number of whole codes in a `bits`-wide window, at most max_count, under
// the distribution the code is optimal for (2^-length per symbol: random bits): what one
// multi-symbol lookup yields on average.
double expected_codes(const CanonicalCode& code, int bits, int max_count) {
    double p[kMaxCodeLength + 1] = {};
    for (uint8_t length : code.lengths) p[length] += std::ldexp(1.0, -length);
    // after[c][r]: codes still to come with c decoded and r bits of the window left
    double after[kMaxMultiU8 + 1][kMaxCodeLength + 1] = {};
    for (int c = max_count - 1; c >= 0; --c)
        for (int r = 0; r <= bits; ++r)
            for (int length = 1; length <= std::min(r, kMaxCodeLength); ++length)
                after[c][r] += p[length] * (1 + after[c + 1][r - length]);
    return after[0][bits];
}

// Cycles per round of the 4-lane loop (a refill and `lookups` lookups on each lane),
// measured on an x86-64 (Zen 4) for 4-byte entries in an L1-resident table: 15.5 + 7.8
// per lookup; 8-byte entries cost 5% more, a 32 KiB table 12% more (it shares L1 with the
// streams), 64 KiB and up 40%.
double round_cycles(int lookups, size_t entry_bytes, int table_bits) {
    const size_t table_bytes = entry_bytes << table_bits;
    double cycles = 15.5 + 7.8 * lookups;
    if (entry_bytes == 8) cycles *= 1.05;
    if (table_bytes >= (size_t{32} << 10)) cycles *= 1.12;
    if (table_bytes >= (size_t{64} << 10)) cycles *= 1.25;
    return cycles;
}

// Symbols decoded per cycle with a table `bits` wide: each refill leaves >= 56 bits, so
// 56 / bits lookups fit between refills.
double layout_speed(const CanonicalCode& code, int bits, bool compact) {
    const int max_count = compact ? kMaxMultiCompact : (code.symbol_bits == 8 ? kMaxMultiU8 : kMaxMultiU16);
    const int lookups = 56 / bits;
    return lookups * expected_codes(code, bits, max_count) / round_cycles(lookups, compact ? 4 : 8, bits);
}

// A window of the longest code is the narrowest table; one bit wider can hold more codes
// per lookup, worth its build (2^12 window decodes) from this many symbols on.
constexpr uint64_t kMinSymbolsForWiderTable = uint64_t{1} << 16;

}  // namespace

TableLayout choose_table_layout(const CanonicalCode& code, uint64_t symbols) {
    const int narrowest = std::max(code.max_length(), kMinTableBits);
    TableLayout best{narrowest, false};
    if (code.symbols.size() < 2) return best;  // a lone symbol: single-symbol lookups only
    const int widest = symbols >= kMinSymbolsForWiderTable ? std::max(narrowest, kMinTableBits + 1) : narrowest;
    double best_speed = -1;
    for (int bits = narrowest; bits <= widest; ++bits) {
        for (bool compact : {false, true}) {
            if (compact && code.symbol_bits != 8) continue;
            const double speed = layout_speed(code, bits, compact);
            if (speed > best_speed) {
                best_speed = speed;
                best = TableLayout{bits, compact};
            }
        }
    }
    return best;
}

DecodeTables make_decode_tables(const CanonicalCode& code, uint64_t symbols) {
    DecodeTables t;
    t.symbol_bits = code.symbol_bits;
    t.complete = code.symbols.size() >= 2;
    const TableLayout layout = choose_table_layout(code, symbols);
    t.table_bits = layout.bits;
    t.compact = layout.compact;
    t.single = make_single_table(code, t.table_bits);
    if (!t.complete) return t;
    if (t.compact) {
        t.multi32 = make_multi_table<uint32_t>(t.single, t.table_bits, 8, kMaxMultiCompact,
                                               [](uint64_t payload, uint64_t count, uint64_t used) {
                                                   return static_cast<uint32_t>(payload | used << 16 | count << 24);
                                               });
    } else {
        const int max_count = t.symbol_bits == 8 ? kMaxMultiU8 : kMaxMultiU16;
        t.multi = make_multi_table<uint64_t>(t.single, t.table_bits, t.symbol_bits, max_count,
                                             [](uint64_t payload, uint64_t count, uint64_t used) {
                                                 return payload | used << 48 | count << 56;
                                             });
    }
    return t;
}

#include "huffman_decode_kernel.inc"

#ifdef PYCODEC_HAVE_BMI2_KERNEL
PYCODEC_BMI2_BEGIN
#define PYCODEC_DECODE_ASM 1
#include "huffman_decode_kernel.inc"
#undef PYCODEC_DECODE_ASM
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
