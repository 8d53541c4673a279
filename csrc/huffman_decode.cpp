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

// ------------------------------------------------------------------ bit reading

namespace {

// Bits [pos, pos + count) of the substream sit left-aligned in buf, and
// (ptr - begin + overrun) * 8 == pos + count. `overrun` counts the zero bytes the safe
// refill invents past the readable end (a corrupt stream then fails validation).
struct BitReader {
    const uint8_t* begin;
    const uint8_t* ptr;
    uint64_t buf = 0;
    unsigned count = 0;
    size_t overrun = 0;

    // Needs 8 readable bytes at ptr; leaves at least 56 bits.
    inline void refill_fast() {
        buf |= load_be64(ptr) >> count;
        ptr += (63 - count) >> 3;
        count |= 56;
    }
    inline void refill_safe(const uint8_t* end) {
        while (count <= 56) {
            uint64_t byte = 0;
            if (ptr < end)
                byte = *ptr++;
            else
                ++overrun;
            buf |= byte << (56 - count);
            count += 8;
        }
    }
    inline void consume(unsigned n) {
        buf <<= n;
        count -= n;
    }
    uint64_t position_bits() const { return (static_cast<uint64_t>(ptr - begin) + overrun) * 8 - count; }
};

template <class T>
struct Lane {
    BitReader bits;
    T* out;
    T* out_end;
};

// Interleaves K lanes, kLookups multi-symbol lookups per refill, until any lane nears the
// end of its input or output.
template <class T, int K, int kLookups>
void decode_fast(const DecodeTables& t, Lane<T>* lanes, const uint8_t* readable_end) {
    constexpr size_t kMaxPerLookup = sizeof(T) == 1 ? kMaxMultiU8 : kMaxMultiU16;
    constexpr size_t kMargin = kLookups * kMaxPerLookup + 8 / sizeof(T);
    const uint64_t* multi = t.multi.data();
    const unsigned shift = 64u - static_cast<unsigned>(t.table_bits);
    for (;;) {
        for (int j = 0; j < K; ++j) {
            if (readable_end - lanes[j].bits.ptr < 8) return;
            if (static_cast<size_t>(lanes[j].out_end - lanes[j].out) < kMargin) return;
        }
        for (int j = 0; j < K; ++j) lanes[j].bits.refill_fast();
        for (int l = 0; l < kLookups; ++l) {
            for (int j = 0; j < K; ++j) {
                const uint64_t e = multi[lanes[j].bits.buf >> shift];
                std::memcpy(lanes[j].out, &e, 8);
                lanes[j].out += e >> 56;
                lanes[j].bits.consume(static_cast<unsigned>(e >> 48) & 0xFFu);
            }
        }
    }
}

// One symbol at a time with exact output bounds and safe reads.
template <class T>
void decode_tail(const DecodeTables& t, Lane<T>& lane, const uint8_t* readable_end) {
    const unsigned shift = 64u - static_cast<unsigned>(t.table_bits);
    const uint32_t* single = t.single.data();
    while (lane.out < lane.out_end) {
        lane.bits.refill_safe(readable_end);
        const uint32_t e = single[lane.bits.buf >> shift];
        const unsigned length = e >> 16;
        if (length == 0) throw CorruptStream("invalid code in Huffman substream");
        *lane.out++ = static_cast<T>(e & 0xFFFFu);
        lane.bits.consume(length);
    }
}

// The substream used exactly its bytes, and the padding bits are zero.
void check_substream_end(const BitReader& bits, const Substream& sub) {
    const uint64_t used = bits.position_bits();
    if (used > uint64_t{sub.size} * 8)
        throw CorruptStream("Huffman substream overruns its " + std::to_string(sub.size) + " byte(s)");
    if ((used + 7) / 8 != sub.size)
        throw CorruptStream("Huffman substream has " + std::to_string(sub.size - (used + 7) / 8) +
                            " unused trailing byte(s)");
    const unsigned pad = static_cast<unsigned>((8 - used % 8) % 8);
    if (pad && (sub.data[sub.size - 1] & ((1u << pad) - 1)))
        throw CorruptStream("Huffman substream padding bits are not zero");
}

template <class T, int kLookups>
void decode_lanes(const DecodeTables& t, Substream* subs, int k, const uint8_t* readable_end) {
    Lane<T> lanes[kMaxSubstreams];
    for (int j = 0; j < k; ++j) {
        T* out = static_cast<T*>(subs[j].out);
        lanes[j] = Lane<T>{BitReader{subs[j].data, subs[j].data}, out, out + subs[j].count};
    }
    if (t.complete) {
        if (k == 4) decode_fast<T, 4, kLookups>(t, lanes, readable_end);
        for (int j = 0; j < k; ++j) decode_fast<T, 1, kLookups>(t, &lanes[j], readable_end);
    }
    for (int j = 0; j < k; ++j) {
        decode_tail(t, lanes[j], readable_end);
        check_substream_end(lanes[j].bits, subs[j]);
    }
}

template <class T>
void decode_typed(const DecodeTables& t, Substream* subs, int k, const uint8_t* readable_end) {
    // each refill leaves >= 56 bits; a lookup consumes at most table_bits of them
    if (t.table_bits <= 11) return decode_lanes<T, 5>(t, subs, k, readable_end);
    if (t.table_bits <= 14) return decode_lanes<T, 4>(t, subs, k, readable_end);
    return decode_lanes<T, 3>(t, subs, k, readable_end);
}

}  // namespace

void decode_substreams(const DecodeTables& tables, Substream* subs, int k, const uint8_t* readable_end) {
    if (k < 1 || k > kMaxSubstreams) throw CorruptStream("substream count outside 1..8");
    if (tables.symbol_bits == 8)
        decode_typed<uint8_t>(tables, subs, k, readable_end);
    else
        decode_typed<uint16_t>(tables, subs, k, readable_end);
}

}  // namespace pycodec
