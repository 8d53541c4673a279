#include "huffman_code.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

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

// Every `stride`-th byte (a byte plane of wider elements), four tables interleaved.
void histogram_u8_strided(const uint8_t* data, size_t n, size_t stride, uint64_t* counts) {
    if (stride == 1) return histogram_u8(data, n, counts);  // contiguous: 8-byte loads
    constexpr size_t kChunk = size_t{1} << 30;
    for (size_t start = 0; start < n; start += kChunk) {
        const size_t end = std::min(n, start + kChunk);
        uint32_t sub[4][256] = {};
        size_t i = start;
        for (; i + 4 <= end; i += 4)
            for (int b = 0; b < 4; ++b) ++sub[b][data[(i + static_cast<size_t>(b)) * stride]];
        for (; i < end; ++i) ++sub[0][data[i * stride]];
        for (int s = 0; s < 256; ++s)
            for (int b = 0; b < 4; ++b) counts[s] += sub[b][s];
    }
}

namespace {

// plane_histograms_strided for elements of W bytes: two tables a plane, alternate elements,
// so that runs of one byte value (a float's exponent) do not wait on each other's stores.
template <size_t W>
void plane_histograms_of(const uint8_t* data, size_t n, size_t stride, uint64_t* counts) {
    constexpr size_t kChunk = size_t{1} << 30;  // 32-bit counts cannot overflow in a chunk
    for (size_t start = 0; start < n; start += kChunk) {
        const size_t end = std::min(n, start + kChunk);
        uint32_t sub[2][W][256] = {};
        size_t i = start;
        for (; i + 2 <= end; i += 2) {
            const uint8_t* a = data + i * stride;
            const uint8_t* b = a + stride;
            for (size_t k = 0; k < W; ++k) {
                ++sub[0][k][a[k]];
                ++sub[1][k][b[k]];
            }
        }
        for (; i < end; ++i)
            for (size_t k = 0; k < W; ++k) ++sub[0][k][data[i * stride + k]];
        for (size_t k = 0; k < W; ++k)
            for (int s = 0; s < 256; ++s) counts[256 * k + static_cast<size_t>(s)] += sub[0][k][s] + uint64_t{sub[1][k][s]};
    }
}

}  // namespace

void plane_histograms_strided(const uint8_t* data, size_t n, size_t width, size_t stride, uint64_t* counts) {
    switch (width) {
        case 2: return plane_histograms_of<2>(data, n, stride, counts);
        case 4: return plane_histograms_of<4>(data, n, stride, counts);
        case 8: return plane_histograms_of<8>(data, n, stride, counts);
        default:
            for (size_t k = 0; k < width; ++k) histogram_u8_strided(data + k, n, stride, counts + 256 * k);
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

namespace {

// c * log2(c) for the small counts that dominate wide alphabets (a 2-byte tensor's 65,536
// patterns): a lookup instead of a logarithm for each.
constexpr size_t kSmallCounts = 4096;

const std::vector<double>& small_count_terms() {
    static const std::vector<double> terms = [] {
        std::vector<double> t(kSmallCounts, 0.0);
        for (size_t c = 2; c < kSmallCounts; ++c) t[c] = static_cast<double>(c) * std::log2(static_cast<double>(c));
        return t;
    }();
    return terms;
}

double count_term(uint64_t c, const std::vector<double>& terms) {
    return c < kSmallCounts ? terms[c] : static_cast<double>(c) * std::log2(static_cast<double>(c));
}

// Sum of c * log2(total / c) = total * log2(total) - sum of c * log2(c).
void finish_entropy(CountsEntropy& e, double sum) {
    const double total = static_cast<double>(e.total);
    e.bits = e.total ? std::max(0.0, total * std::log2(total) - sum) : 0.0;
}

}  // namespace

CountsEntropy counts_entropy(const uint64_t* counts, size_t n) {
    const std::vector<double>& terms = small_count_terms();
    CountsEntropy e;
    double sum = 0;
    for_each_in_used_blocks(counts, n, [&](size_t j) {
        const uint64_t c = counts[j];
        e.distinct += c != 0;
        e.total += c;
        sum += count_term(c, terms);
    });
    finish_entropy(e, sum);
    return e;
}

void pattern_plane_histograms(const uint64_t* patterns, uint64_t* low, uint64_t* high) {
    std::fill_n(low, 256, uint64_t{0});
    std::fill_n(high, 256, uint64_t{0});
    for_each_in_used_blocks(patterns, 65536, [&](size_t j) {
        low[j & 0xFF] += patterns[j];
        high[j >> 8] += patterns[j];
    });
}

namespace {

// pattern_statistics's walk of the 65,536 pattern counts, in pattern order (the entropy's
// sum too: an unused pattern adds 0.0), each cleared as read (the table is left all zero),
// row by row (the 256 patterns of one high byte), with no branch on each count: a high
// byte's total kept in a register, blocks of 8 unused patterns skipped at one test.
template <class Count>
void walk_pattern_table(Count* counts, PatternStatistics& out, double& sum, const std::vector<double>& terms,
                        std::vector<uint64_t>* used) {
    thread_local std::vector<uint64_t> occurring(65536);  // the used counts, in pattern order
    size_t found = 0;
    const Count zeros = counts[0];  // pattern 0: the zero elements, outside the entropy
    counts[0] = 0;
    out.zeros = zeros;
    out.low[0] += zeros;
    out.high[0] += zeros;
    occurring[found] = zeros;
    found += zeros != 0;
    for (size_t high = 0; high < 256; ++high) {
        Count* row = counts + 256 * high;
        uint64_t row_total = 0;
        for (size_t block = 0; block < 256; block += 8) {
            Count any = 0;
            for (size_t k = 0; k < 8; ++k) any |= row[block + k];
            if (!any) continue;
            for (size_t k = 0; k < 8; ++k) {
                const Count c = row[block + k];
                out.low[block + k] += c;
                row_total += c;
                out.nonzero.distinct += c != 0;
                sum += count_term(c, terms);
                occurring[found] = c;
                found += c != 0;
                row[block + k] = 0;  // cleared as read: only the blocks in use are written
            }
        }
        out.high[high] += row_total;
        out.nonzero.total += row_total;
    }
    if (used != nullptr) used->insert(used->end(), occurring.begin(), occurring.begin() + static_cast<std::ptrdiff_t>(found));
}

}  // namespace

PatternStatistics pattern_statistics(const uint16_t* bits, size_t n, std::vector<uint64_t>* used) {
    const std::vector<double>& terms = small_count_terms();
    PatternStatistics out;
    double sum = 0;
    if (n > UINT32_MAX) {  // counts past 32 bits: a table of 64-bit counts for this call
        std::vector<uint64_t> counts(65536, 0);
        histogram_u16(bits, n, counts.data());
        walk_pattern_table(counts.data(), out, sum, terms, used);
    } else {
        thread_local std::vector<uint32_t> table(65536, 0);  // all zero between calls
        uint32_t* counts = table.data();
        size_t i = 0;
        for (; i + 2 <= n; i += 2) {
            ++counts[bits[i]];
            ++counts[bits[i + 1]];
        }
        for (; i < n; ++i) ++counts[bits[i]];
        walk_pattern_table(counts, out, sum, terms, used);
    }
    finish_entropy(out.nonzero, sum);
    return out;
}

// ------------------------------------------------------------------ package-merge

namespace {

int ceil_log2(size_t n) {
    int bits = 0;
    while ((size_t{1} << bits) < n) ++bits;
    return bits;
}

// Package-merge over `limit` levels. Each level merges the leaves (ascending) with the
// packages of adjacent pairs of the level below, leaves first on ties; leaves keep their
// order, so the leaves among a level's first items are always leaves 0, 1, 2, ... and a
// level is fully described by which of its items are packages. Only two levels of weights
// are kept; the backtrack needs just those flags.
//
// Weights: every item of level j weighs at most j times the leaves' total, so 64 bits hold
// them while the total stays under 2^59; beyond that (counts are uint64) 128 bits do.
template <class Weight>
std::vector<uint32_t> package_merge_depths(const std::vector<uint64_t>& sorted_counts, int limit) {
    const size_t n = sorted_counts.size();
    std::vector<Weight> leaves(sorted_counts.begin(), sorted_counts.end());
    std::vector<Weight> prev = leaves, merged;
    std::vector<std::vector<uint8_t>> package_flags(static_cast<size_t>(limit));
    package_flags[0].assign(n, 0);
    merged.reserve(2 * n);
    for (int level = 1; level < limit; ++level) {
        std::vector<uint8_t>& flags = package_flags[static_cast<size_t>(level)];
        flags.reserve(2 * n);
        merged.clear();
        size_t li = 0, pi = 0;
        const size_t packages = prev.size() / 2;
        while (li < n || pi < packages) {
            const Weight package = pi < packages ? prev[2 * pi] + prev[2 * pi + 1] : 0;
            if (pi >= packages || (li < n && leaves[li] <= package)) {
                merged.push_back(leaves[li++]);
                flags.push_back(0);
            } else {
                merged.push_back(package);
                flags.push_back(1);
                ++pi;
            }
        }
        prev.swap(merged);
    }
    // The 2n-2 cheapest top-level items; each leaf among a level's chosen items gains a
    // bit of length (the chosen leaves of a level are a prefix, counted in a difference
    // array), each chosen package chooses two items of the level below.
    std::vector<int64_t> starts(n + 1, 0);
    size_t take = 2 * n - 2;
    for (int level = limit - 1; level >= 0; --level) {
        const std::vector<uint8_t>& flags = package_flags[static_cast<size_t>(level)];
        size_t packages = 0;
        for (size_t i = 0; i < take; ++i) packages += flags[i];
        ++starts[0];
        --starts[take - packages];
        take = 2 * packages;
    }
    std::vector<uint32_t> depth;
    depth.reserve(n);
    int64_t running = 0;
    for (size_t i = 0; i < n; ++i) depth.push_back(static_cast<uint32_t>(running += starts[i]));
    return depth;
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
    std::vector<uint64_t> sorted_counts(used.size());
    unsigned __int128 total = 0;
    for (size_t i = 0; i < used.size(); ++i) total += sorted_counts[i] = counts[used[i]];
    __extension__ typedef unsigned __int128 Wide;
    const std::vector<uint32_t> depth = total < (Wide{1} << 59)
                                            ? package_merge_depths<uint64_t>(sorted_counts, limit)
                                            : package_merge_depths<Wide>(sorted_counts, limit);
    for (size_t i = 0; i < used.size(); ++i) lengths[used[i]] = static_cast<uint8_t>(depth[i]);
    return lengths;
}

namespace {

// Huffman's code over counts sorted ascending (two queues: leaves, then merged nodes in
// the order they were made, which is ascending too): its total coded bits and its
// longest code. Weights stay below 2^64 as the caller keeps the total below 2^59.
std::pair<uint64_t, uint32_t> huffman_bits(const std::vector<uint64_t>& sorted) {
    const size_t n = sorted.size();
    std::vector<uint64_t> weight(sorted);
    weight.resize(2 * n - 1);
    std::vector<uint32_t> parent(2 * n - 1, 0);
    size_t leaf = 0, node = n;
    auto cheapest = [&](size_t made) {
        if (leaf < n && (node >= made || weight[leaf] <= weight[node])) return leaf++;
        return node++;
    };
    for (size_t made = n; made < 2 * n - 1; ++made) {
        const size_t a = cheapest(made), b = cheapest(made);
        weight[made] = weight[a] + weight[b];
        parent[a] = parent[b] = static_cast<uint32_t>(made);
    }
    std::vector<uint32_t> depth(2 * n - 1, 0);  // the root, 2n - 2, at depth 0
    uint64_t bits = 0;
    uint32_t longest = 0;
    for (size_t i = 2 * n - 1; i-- > 0;) {
        if (i == 2 * n - 2) continue;
        depth[i] = depth[parent[i]] + 1;
        if (i < n) bits += sorted[i] * depth[i], longest = std::max(longest, depth[i]);
    }
    return {bits, longest};
}

}  // namespace

namespace {

// Huffman's code over the non-zero `counts`: its total bits and longest code, and how
// many symbols are used. No code is made (longest 0) with fewer than two symbols or a
// total past 2^59 (the tree's weights would not fit 64 bits); `bits` is then a lone
// symbol's count (its code is 1 bit) or 0, a lower bound either way.
struct UnlimitedCode {
    uint64_t bits = 0;
    uint32_t longest = 0;
    size_t used = 0;
};

UnlimitedCode unlimited_code(const std::vector<uint64_t>& counts) {
    UnlimitedCode code;
    std::vector<uint64_t> used;
    unsigned __int128 total = 0;
    for (uint64_t c : counts)
        if (c) used.push_back(c), total += c;
    code.used = used.size();
    if (used.size() < 2 || total >= (static_cast<unsigned __int128>(1) << 59)) {
        if (used.size() == 1) code.bits = used[0];  // a lone symbol: length 1
        return code;
    }
    std::sort(used.begin(), used.end());
    std::tie(code.bits, code.longest) = huffman_bits(used);
    return code;
}

}  // namespace

uint64_t unlimited_code_bits(const std::vector<uint64_t>& counts) { return unlimited_code(counts).bits; }

uint64_t limited_code_bits(const std::vector<uint64_t>& counts, int max_length) {
    const UnlimitedCode code = unlimited_code(counts);
    if (code.longest > 0 && static_cast<int>(code.longest) <= std::max(max_length, ceil_log2(code.used))) return code.bits;
    const std::vector<uint8_t> lengths = limited_code_lengths(counts, max_length);
    uint64_t bits = 0;
    for (size_t s = 0; s < counts.size(); ++s) bits += counts[s] * lengths[s];
    return bits;
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
