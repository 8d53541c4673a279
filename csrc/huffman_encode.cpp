#include "huffman_encode.hpp"

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

uint64_t coded_bits(const uint64_t* counts, const EncodeTable& table) {
    uint64_t bits = 0;
    for (size_t s = 0; s < table.entries.size(); ++s) bits += counts[s] * (table.entries[s] & 0xFFu);
    return bits;
}

namespace {

// The bit accumulator: `bits` valid bits left-aligned in `acc`. Between flushes at most
// kPerFlush codes are added, chosen so that bits stays below 64 (no shift by 64).
struct BitWriter {
    uint64_t acc = 0;
    unsigned bits = 0;
    uint8_t* out;

    inline void put(uint32_t entry) {
        bits += entry & 0xFFu;
        acc |= uint64_t{entry >> 8} << (64 - bits);
    }
    inline void flush() {
        store_be64(out, acc);
        out += bits >> 3;
        acc <<= (bits & ~7u);
        bits &= 7u;
    }
};

template <class T, int kPerFlush>
size_t encode_run(const T* src, size_t n, const uint32_t* table, uint8_t* out) {
    BitWriter w{0, 0, out};
    size_t i = 0;
    for (; i + kPerFlush <= n; i += kPerFlush) {
        for (int j = 0; j < kPerFlush; ++j) w.put(table[src[i + static_cast<size_t>(j)]]);
        w.flush();
    }
    for (; i < n; ++i) {
        w.put(table[src[i]]);
        w.flush();
    }
    store_be64(w.out, w.acc);
    return static_cast<size_t>(w.out - out) + ((w.bits + 7) >> 3);
}

template <class T>
size_t encode_dispatch(const T* src, size_t n, const EncodeTable& table, uint8_t* out) {
    // 7 leftover bits + kPerFlush codes must stay within 63 bits
    const uint32_t* entries = table.entries.data();
    if (table.max_length <= 11) return encode_run<T, 5>(src, n, entries, out);
    if (table.max_length <= 14) return encode_run<T, 4>(src, n, entries, out);
    return encode_run<T, 3>(src, n, entries, out);
}

}  // namespace

size_t encode_symbols(const uint8_t* src, size_t n, const EncodeTable& table, uint8_t* out) {
    return encode_dispatch(src, n, table, out);
}

size_t encode_symbols(const uint16_t* src, size_t n, const EncodeTable& table, uint8_t* out) {
    return encode_dispatch(src, n, table, out);
}

}  // namespace pycodec
