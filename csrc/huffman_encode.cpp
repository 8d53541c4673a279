#include "huffman_encode.hpp"

#include <cstring>

namespace pycodec {

EncodeTable make_encode_table(const CanonicalCode& code) {
    EncodeTable table;
    table.entries.assign(size_t{1} << code.symbol_bits, 0);
    table.max_length = code.max_length();
    const std::vector<uint32_t> words = canonical_codewords(code);
    for (size_t i = 0; i < code.symbols.size(); ++i)
        table.entries[code.symbols[i]] = (words[i] << 8) | code.lengths[i];
    return table;
}

uint64_t coded_bits(const uint64_t* counts, const uint8_t* lengths, size_t alphabet) {
    uint64_t bits = 0;
    for (size_t s = 0; s < alphabet; ++s) bits += counts[s] * lengths[s];
    return bits;
}

namespace {

// Codes of two uint8 symbols at once: entry[a | b << 8] = codes of a then b. Halves the
// work per symbol; the entries a small alphabet touches stay in L1.
constexpr int kMaxPairCodeLength = 12;       // a pair's code then fits 24 bits
constexpr size_t kMinSymbolsForPairs = 1 << 16;  // below this, building the table costs more

std::vector<uint32_t> make_pair_table(const EncodeTable& table) {
    std::vector<uint32_t> pairs(size_t{1} << 16);
    for (uint32_t a = 0; a < 256; ++a) {
        const uint32_t ea = table.entries[a];
        for (uint32_t b = 0; b < 256; ++b) {
            const uint32_t eb = table.entries[b];
            const uint32_t len_b = eb & 0xFFu;
            const uint32_t code = ((ea >> 8) << len_b) | (eb >> 8);
            pairs[a | (b << 8)] = (code << 8) | ((ea & 0xFFu) + len_b);
        }
    }
    return pairs;
}

}  // namespace

#include "huffman_encode_kernel.inc"

#ifdef PYCODEC_HAVE_BMI2_KERNEL
PYCODEC_BMI2_BEGIN
#include "huffman_encode_kernel.inc"
PYCODEC_BMI2_END
#endif

namespace {

template <class T>
size_t encode_best(const T* src, size_t n, const EncodeTable& table, uint8_t* out) {
#ifdef PYCODEC_HAVE_BMI2_KERNEL
    if (cpu_has_bmi2()) return bmi2::encode_dispatch(src, n, table, out);
#endif
    return encode_dispatch(src, n, table, out);
}

}  // namespace

size_t encode_symbols_strided(const uint8_t* src, size_t stride, size_t n, const EncodeTable& table, uint8_t* out) {
#ifdef PYCODEC_HAVE_BMI2_KERNEL
    if (cpu_has_bmi2()) return bmi2::encode_strided(src, stride, n, table, out);
#endif
    return encode_strided(src, stride, n, table, out);
}

size_t encode_symbols(const uint8_t* src, size_t n, const EncodeTable& table, uint8_t* out) {
    return encode_best(src, n, table, out);
}

size_t encode_symbols(const uint16_t* src, size_t n, const EncodeTable& table, uint8_t* out) {
    return encode_best(src, n, table, out);
}

}  // namespace pycodec
