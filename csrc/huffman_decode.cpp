#include "huffman_decode.hpp"

#include <algorithm>

namespace pycodec {

// ------------------------------------------------------------------ tables

namespace {

constexpr int kMaxMultiU8 = 6;
constexpr int kMaxMultiU16 = 3;

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

// Greedily decodes whole codes from each table_bits-wide window.
std::vector<uint64_t> make_multi_table(const std::vector<uint32_t>& single, int table_bits, int symbol_bits) {
    const size_t size = size_t{1} << table_bits;
    const size_t mask = size - 1;
    const int max_count = symbol_bits == 8 ? kMaxMultiU8 : kMaxMultiU16;
    std::vector<uint64_t> multi(size);
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
        multi[window] = payload | (uint64_t(used) << 48) | (uint64_t(count) << 56);
    }
    return multi;
}

}  // namespace

DecodeTables make_decode_tables(const CanonicalCode& code) {
    DecodeTables t;
    t.symbol_bits = code.symbol_bits;
    t.complete = code.symbols.size() >= 2;
    t.table_bits = std::max(code.max_length(), kMinTableBits);
    t.single = make_single_table(code, t.table_bits);
    if (t.complete) t.multi = make_multi_table(t.single, t.table_bits, t.symbol_bits);
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
