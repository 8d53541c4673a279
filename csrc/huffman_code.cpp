#include "huffman_code.hpp"

#include <algorithm>
#include <numeric>

namespace pycodec {

int CanonicalCode::max_length() const {
    return lengths.empty() ? 0 : *std::max_element(lengths.begin(), lengths.end());
}

// ------------------------------------------------------------------ histograms

// Eight interleaved tables so that runs of one symbol don't serialise on one counter.
void histogram_u8(const uint8_t* data, size_t n, uint64_t* counts) {
    constexpr size_t kChunk = size_t{1} << 30;  // keeps the uint32 sub-counts from overflowing
    for (size_t start = 0; start < n; start += kChunk) {
        const size_t end = std::min(n, start + kChunk);
        uint32_t sub[8][256] = {};
        size_t i = start;
        for (; i + 8 <= end; i += 8) {  // one 8-byte load feeds eight separate tables
            uint64_t v;
            std::memcpy(&v, data + i, 8);
            for (int b = 0; b < 8; ++b) ++sub[b][(v >> (8 * b)) & 0xFF];
        }
        for (; i < end; ++i) ++sub[0][data[i]];
        for (int s = 0; s < 256; ++s)
            for (int b = 0; b < 8; ++b) counts[s] += sub[b][s];
    }
}

void histogram_u16(const uint16_t* data, size_t n, uint64_t* counts) {
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        ++counts[data[i]];
        ++counts[data[i + 1]];
    }
    for (; i < n; ++i) ++counts[data[i]];
}

// ------------------------------------------------------------------ package-merge

namespace {

// A package holds each of at most 2^16 leaves at most 16 times (once per level), so it
// weighs under 2^84: 128 bits sum exactly where 64-bit sums wrapped once the counts
// passed 2^64, broke the merge order and gave incomplete codes.
__extension__ typedef unsigned __int128 Weight;

struct Item {
    Weight weight;
    int32_t leaf;  // symbol index into the sorted leaves, or -1 for a package
};

int ceil_log2(size_t n) {
    int bits = 0;
    while ((size_t{1} << bits) < n) ++bits;
    return bits;
}

// One merge step: packages of adjacent pairs of `prev`, merged with the leaves.
std::vector<Item> package_and_merge(const std::vector<Item>& prev, const std::vector<Item>& leaves) {
    std::vector<Item> merged;
    merged.reserve(leaves.size() + prev.size() / 2);
    size_t li = 0, pi = 0;
    const size_t packages = prev.size() / 2;
    while (li < leaves.size() || pi < packages) {
        const Weight package = pi < packages ? prev[2 * pi].weight + prev[2 * pi + 1].weight : 0;
        if (pi >= packages || (li < leaves.size() && leaves[li].weight <= package)) {
            merged.push_back(leaves[li++]);
        } else {
            merged.push_back({package, -1});
            ++pi;
        }
    }
    return merged;
}

}  // namespace

std::vector<uint8_t> limited_code_lengths(const std::vector<uint64_t>& counts, int max_length) {
    std::vector<uint8_t> lengths(counts.size(), 0);
    std::vector<uint32_t> used;
    for (size_t s = 0; s < counts.size(); ++s)
        if (counts[s]) used.push_back(static_cast<uint32_t>(s));
    if (used.empty()) return lengths;
    if (used.size() == 1) {
        lengths[used[0]] = 1;
        return lengths;
    }
    const int limit = std::max(max_length, ceil_log2(used.size()));
    if (limit > kMaxCodeLength) throw InvalidArgument("too many symbols for the maximum code length");

    std::stable_sort(used.begin(), used.end(),
                     [&](uint32_t a, uint32_t b) { return counts[a] < counts[b]; });
    std::vector<Item> leaves(used.size());
    for (size_t i = 0; i < used.size(); ++i) leaves[i] = {counts[used[i]], static_cast<int32_t>(i)};

    // levels[0] holds the deepest denomination (2^-limit), levels[limit-1] the top (2^-1).
    std::vector<std::vector<Item>> levels;
    levels.reserve(static_cast<size_t>(limit));
    levels.push_back(leaves);
    for (int level = 1; level < limit; ++level) levels.push_back(package_and_merge(levels.back(), leaves));

    // The 2n-2 cheapest top-level items; each leaf occurrence adds one bit to its length.
    std::vector<uint32_t> depth(used.size(), 0);
    size_t take = 2 * used.size() - 2;
    for (int level = limit - 1; level >= 0; --level) {
        size_t packages = 0;
        for (size_t i = 0; i < take; ++i) {
            const Item& item = levels[static_cast<size_t>(level)][i];
            if (item.leaf >= 0)
                ++depth[static_cast<size_t>(item.leaf)];
            else
                ++packages;
        }
        take = 2 * packages;
    }
    for (size_t i = 0; i < used.size(); ++i) lengths[used[i]] = static_cast<uint8_t>(depth[i]);
    return lengths;
}

// ------------------------------------------------------------------ canonical codes

CanonicalCode code_from_lengths(const std::vector<uint8_t>& lengths, int symbol_bits) {
    CanonicalCode code;
    code.symbol_bits = symbol_bits;
    for (size_t s = 0; s < lengths.size(); ++s) {
        if (lengths[s]) {
            code.symbols.push_back(static_cast<uint16_t>(s));
            code.lengths.push_back(lengths[s]);
        }
    }
    return code;
}

void validate_code(const CanonicalCode& code) {
    if (code.symbol_bits != 8 && code.symbol_bits != 16)
        throw CorruptStream("symbol width must be 8 or 16 bits");
    const size_t n = code.symbols.size();
    if (n == 0 || n != code.lengths.size()) throw CorruptStream("code table is empty or inconsistent");
    if (n > (size_t{1} << code.symbol_bits)) throw CorruptStream("code table lists more symbols than the alphabet");
    const uint32_t alphabet = uint32_t{1} << code.symbol_bits;
    uint64_t kraft = 0;  // in units of 2^-kMaxCodeLength
    for (size_t i = 0; i < n; ++i) {
        if (code.symbols[i] >= alphabet) throw CorruptStream("code table symbol outside the alphabet");
        if (i && code.symbols[i] <= code.symbols[i - 1])
            throw CorruptStream("code table symbols not strictly ascending");
        if (code.lengths[i] < 1 || code.lengths[i] > kMaxCodeLength)
            throw CorruptStream("code length outside 1..16");
        kraft += uint64_t{1} << (kMaxCodeLength - code.lengths[i]);
    }
    const uint64_t complete = uint64_t{1} << kMaxCodeLength;
    if (n == 1 ? code.lengths[0] != 1 : kraft != complete)
        throw CorruptStream(n == 1 ? "a lone symbol must have code length 1"
                                   : "code lengths do not form a complete prefix code");
}

std::vector<uint32_t> canonical_codewords(const CanonicalCode& code) {
    const size_t n = code.symbols.size();
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    // symbols are ascending, so a stable sort by length gives (length, symbol) order
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return code.lengths[a] < code.lengths[b]; });
    std::vector<uint32_t> words(n, 0);
    uint32_t next = 0;
    int prev_len = n ? code.lengths[order[0]] : 0;
    for (size_t k = 0; k < n; ++k) {
        const int len = code.lengths[order[k]];
        next <<= (len - prev_len);
        words[order[k]] = next++;
        prev_len = len;
    }
    return words;
}

// ------------------------------------------------------------------ serialization

size_t serialized_code_size(const CanonicalCode& code) {
    size_t size = varint_size(code.symbols.size()) + 1 + (code.symbols.size() + 1) / 2;
    uint32_t prev = 0;
    for (size_t i = 0; i < code.symbols.size(); ++i) {
        size += varint_size(i ? code.symbols[i] - prev - 1 : code.symbols[i]);
        prev = code.symbols[i];
    }
    return size;
}

void serialize_code(const CanonicalCode& code, ByteWriter& out) {
    const size_t n = code.symbols.size();
    out.varint(n);
    out.u8(static_cast<uint8_t>(code.max_length()));
    for (size_t i = 0; i < n; ++i)
        out.varint(i ? static_cast<uint64_t>(code.symbols[i] - code.symbols[i - 1] - 1) : code.symbols[i]);
    for (size_t i = 0; i < n; i += 2) {
        const uint8_t lo = static_cast<uint8_t>(code.lengths[i] - 1);
        const uint8_t hi = i + 1 < n ? static_cast<uint8_t>(code.lengths[i + 1] - 1) : 0;
        out.u8(static_cast<uint8_t>(lo | (hi << 4)));
    }
}

CanonicalCode parse_code(ByteReader& in, int symbol_bits) {
    CanonicalCode code;
    code.symbol_bits = symbol_bits;
    const uint64_t n = in.varint("code table symbol count");
    if (n == 0 || n > (uint64_t{1} << symbol_bits))
        throw CorruptStream("code table symbol count " + std::to_string(n) + " outside 1.." +
                            std::to_string(uint64_t{1} << symbol_bits));
    // each listed symbol takes at least one byte: check before allocating
    if (n > in.remaining()) throw CorruptStream("truncated stream: code table lists more symbols than bytes left");
    const int max_len = in.u8("code table maximum length");
    if (max_len < 1 || max_len > kMaxCodeLength) throw CorruptStream("code table maximum length outside 1..16");
    code.symbols.resize(n);
    uint64_t value = 0;
    for (uint64_t i = 0; i < n; ++i) {
        const uint64_t delta = in.varint("code table symbol");
        value = i ? value + 1 + delta : delta;
        if (delta >= (uint64_t{1} << symbol_bits) || value >= (uint64_t{1} << symbol_bits))
            throw CorruptStream("code table symbol outside the alphabet");
        code.symbols[i] = static_cast<uint16_t>(value);
    }
    const uint8_t* packed = in.take((n + 1) / 2, "code table lengths");
    code.lengths.resize(n);
    for (uint64_t i = 0; i < n; ++i) {
        const uint8_t nibble = (i & 1) ? (packed[i / 2] >> 4) : (packed[i / 2] & 0x0F);
        code.lengths[i] = static_cast<uint8_t>(nibble + 1);
    }
    if ((n & 1) && (packed[n / 2] >> 4)) throw CorruptStream("code table padding nibble is not zero");
    validate_code(code);
    if (code.max_length() != max_len) throw CorruptStream("code table maximum length does not match its lengths");
    return code;
}

}  // namespace pycodec
