#include "huffman_encode.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace pycodec {

namespace {

constexpr int kMaxPairCodeLength = 12;  // a pair's code then fits 24 bits
// Below this many symbols in a stream, building the 65,536-entry pair table (about 15 us)
// costs more than it saves.
constexpr uint64_t kMinSymbolsForPairs = 1 << 15;
// Two substreams coded at once: the joint loop stops 64 symbols short of the shorter one
// and must first write 64 bits of each (encode_pairs_two).
constexpr size_t kMinSymbolsForTwo = 256;

// b outer, a inner: each row is contiguous and shifts by one constant, so it vectorizes.
std::vector<uint32_t> make_pair_table(const std::vector<uint32_t>& entries) {
    std::vector<uint32_t> pairs(size_t{1} << 16);
    uint32_t codes[256], lengths[256];
    for (size_t a = 0; a < 256; ++a) {
        codes[a] = entries[a] >> 8;
        lengths[a] = entries[a] & 0xFFu;
    }
    for (size_t b = 0; b < 256; ++b) {
        const uint32_t len_b = lengths[b], code_b = codes[b];
        uint32_t* row = pairs.data() + (b << 8);
        for (size_t a = 0; a < 256; ++a) row[a] = ((codes[a] << len_b | code_b) << 8) | (lengths[a] + len_b);
    }
    return pairs;
}

}  // namespace

EncodeTable make_encode_table(const CanonicalCode& code, uint64_t symbols) {
    EncodeTable table;
    // A symbol without a code never occurs in the symbols planned; should it turn up anyway
    // (another thread changed them) it is written as one 0 bit: garbage that the size
    // check reports, where a 0-bit entry would shift the bit writer by 64.
    table.entries.assign(size_t{1} << code.symbol_bits, 1);
    table.max_length = code.max_length();
    const std::vector<uint32_t> words = canonical_codewords(code);
    for (size_t i = 0; i < code.symbols.size(); ++i)
        table.entries[code.symbols[i]] = (words[i] << 8) | code.lengths[i];
    if (code.symbol_bits == 8 && table.max_length <= kMaxPairCodeLength && symbols >= kMinSymbolsForPairs)
        table.pairs = make_pair_table(table.entries);
    return table;
}

uint64_t coded_bits(const uint64_t* counts, const uint8_t* lengths, size_t alphabet) {
    uint64_t bits = 0;
    for (size_t s = 0; s < alphabet; ++s) bits += counts[s] * lengths[s];
    return bits;
}

#include "huffman_encode_kernel.inc"

#ifdef PYCODEC_HAVE_BMI2_KERNEL
PYCODEC_BMI2_BEGIN
#include "huffman_encode_kernel.inc"
PYCODEC_BMI2_END
#endif

namespace {

template <class T>
size_t encode_best(const T* src, size_t n, const EncodeTable& table, uint8_t* out, size_t capacity) {
#ifdef PYCODEC_HAVE_BMI2_KERNEL
    if (cpu_has_bmi2()) return bmi2::encode_dispatch(src, n, table, out, capacity);
#endif
    return encode_dispatch(src, n, table, out, capacity);
}

}  // namespace

size_t encode_symbols_strided(const uint8_t* src, size_t stride, size_t n, const EncodeTable& table, uint8_t* out,
                              size_t capacity) {
#ifdef PYCODEC_HAVE_BMI2_KERNEL
    if (cpu_has_bmi2()) return bmi2::encode_strided(src, stride, n, table, out, capacity);
#endif
    return encode_strided(src, stride, n, table, out, capacity);
}

bool can_encode_two(const EncodeTable& table, size_t n0, size_t n1) {
    return !table.pairs.empty() && std::min(n0, n1) >= kMinSymbolsForTwo;
}

void encode_two_symbols_strided(const uint8_t* src0, size_t n0, const uint8_t* src1, size_t n1, size_t stride,
                                const EncodeTable& table, uint8_t* out0, uint8_t* out1, size_t capacity1,
                                size_t* written) {
    if (!can_encode_two(table, n0, n1)) throw std::logic_error("two substreams at once need the pair table");
#ifdef PYCODEC_HAVE_BMI2_KERNEL
    if (cpu_has_bmi2()) return bmi2::encode_two_strided(src0, n0, src1, n1, stride, table, out0, out1, capacity1, written);
#endif
    encode_two_strided(src0, n0, src1, n1, stride, table, out0, out1, capacity1, written);
}

size_t encode_symbols(const uint8_t* src, size_t n, const EncodeTable& table, uint8_t* out, size_t capacity) {
    return encode_best(src, n, table, out, capacity);
}

size_t encode_symbols(const uint16_t* src, size_t n, const EncodeTable& table, uint8_t* out, size_t capacity) {
    return encode_best(src, n, table, out, capacity);
}

}  // namespace pycodec
