#include "relative_index.hpp"

#include <algorithm>
#include <cmath>

#include <string>

#include "common.hpp"
#include "huffman_stream.hpp"
#include "limits.hpp"

namespace pycodec {

namespace {

uint64_t filler_value(int bits) { return (uint64_t{1} << bits) - 1; }

void check_bits(int bits) {
    if (bits < kMinIndexBits || bits > kMaxIndexBits) throw InvalidArgument("index bits must be in 1..16");
}

template <class T>
void encode_typed(const int64_t* positions, size_t n, int bits, T* out, size_t capacity) {
    const uint64_t filler = filler_value(bits);
    const T* const end = out + capacity;
    uint64_t cursor = 0;
    for (size_t i = 0; i < n; ++i) {
        // checked again, from one read: the positions may have changed since they were sized
        // (another thread writing the array), and the entries must stay within `capacity`
        const int64_t position = __atomic_load_n(positions + i, __ATOMIC_RELAXED);
        if (position < 0 || static_cast<uint64_t>(position) < cursor ||
            (static_cast<uint64_t>(position) - cursor) / filler >= static_cast<uint64_t>(end - out))
            throw DataChanged("positions");
        uint64_t gap = static_cast<uint64_t>(position) - cursor;
        for (; gap >= filler; gap -= filler) *out++ = static_cast<T>(filler);
        *out++ = static_cast<T>(gap);
        cursor = static_cast<uint64_t>(position) + 1;
    }
    if (out != end) throw DataChanged("positions");
}

template <class T>
size_t count_typed(const T* entries, size_t n, int bits) {
    check_bits(bits);
    const uint64_t filler = filler_value(bits);
    size_t fillers = 0;
    bool out_of_range = false;
    for (size_t i = 0; i < n; ++i) {
        fillers += entries[i] == filler;
        out_of_range |= entries[i] > filler;
    }
    if (out_of_range) throw CorruptStream("relative-index entry exceeds 2^bits - 1");
    return n - fillers;
}

template <class T>
void decode_typed(const T* entries, size_t n, int bits, uint64_t numel, int64_t* out) {
    const uint64_t filler = filler_value(bits);
    uint64_t cursor = 0;
    for (size_t i = 0; i < n; ++i) {
        const uint64_t e = entries[i];
        if (e > filler) throw CorruptStream("relative-index entry exceeds 2^bits - 1");
        if (e == filler) {
            cursor += filler;
        } else {
            const uint64_t position = cursor + e;
            if (position >= numel)
                throw CorruptStream("relative index points at position " + std::to_string(position) +
                                    ", past the tensor's " + std::to_string(numel) + " elements");
            *out++ = static_cast<int64_t>(position);
            cursor = position + 1;
        }
        if (cursor > numel) throw CorruptStream("relative-index fillers run past the tensor's end");
    }
}

}  // namespace

size_t relative_index_length(const int64_t* positions, size_t n, int bits) {
    check_bits(bits);
    const uint64_t filler = filler_value(bits);
    size_t length = n;
    int64_t previous = -1;
    for (size_t i = 0; i < n; ++i) {
        if (positions[i] <= previous)
            throw InvalidArgument(positions[i] < 0 ? "positions must be non-negative"
                                                   : "positions must be strictly increasing");
        // previous + 1 <= positions[i] here, so neither side overflows (a position of
        // 2^63 - 1 after the initial -1 did in `positions[i] - previous`)
        const uint64_t gap = static_cast<uint64_t>(positions[i]) - static_cast<uint64_t>(previous + 1);
        length += static_cast<size_t>(gap / filler);
        previous = positions[i];
    }
    return length;
}

void relative_index_encode(const int64_t* positions, size_t n, int bits, uint8_t* out, size_t length) {
    encode_typed(positions, n, bits, out, length);
}
void relative_index_encode(const int64_t* positions, size_t n, int bits, uint16_t* out, size_t length) {
    encode_typed(positions, n, bits, out, length);
}
size_t relative_index_count(const uint8_t* entries, size_t n, int bits) { return count_typed(entries, n, bits); }
size_t relative_index_count(const uint16_t* entries, size_t n, int bits) { return count_typed(entries, n, bits); }
void relative_index_decode(const uint8_t* entries, size_t n, int bits, uint64_t numel, int64_t* out) {
    decode_typed(entries, n, bits, numel, out);
}
void relative_index_decode(const uint16_t* entries, size_t n, int bits, uint64_t numel, int64_t* out) {
    decode_typed(entries, n, bits, numel, out);
}

}  // namespace pycodec

// ------------------------------------------------------------------ writer statistics

namespace pycodec {

namespace {

template <class T>
size_t count_typed(const T* bits, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; ++i) count += bits[i] != 0;
    return count;
}

// Branchless: every element is written to the next slot and the slot advances only for a
// non-zero, so the outputs need one spare slot: `nnz` + 1 of them, nnz counted before. The
// slot never passes nnz: should more non-zeros turn up (another thread writing the array)
// the scan stays in bounds and reports DataChanged. Gaps are counted in a second,
// sequential pass over the positions.
template <class T>
void scan_typed(const T* bits, size_t n, size_t nnz, int64_t* positions, T* values, uint64_t* histogram, size_t cap,
                std::vector<int64_t>& long_gaps) {
    size_t k = 0, found = 0;
    for (size_t i = 0; i < n; ++i) {
        const T value = bits[i];
        positions[k] = static_cast<int64_t>(i);
        values[k] = value;
        found += value != 0;
        k = std::min(k + (value != 0), nnz);
    }
    if (found != nnz) throw DataChanged("elements");
    int64_t previous = -1;
    for (size_t j = 0; j < k; ++j) {
        const uint64_t gap = static_cast<uint64_t>(positions[j] - previous - 1);
        if (gap < cap)
            ++histogram[gap];
        else
            long_gaps.push_back(static_cast<int64_t>(gap));
        previous = positions[j];
    }
}

}  // namespace

size_t count_nonzero(const void* bits, size_t n, size_t width) {
    switch (width) {
        case 1: return count_typed(static_cast<const uint8_t*>(bits), n);
        case 2: return count_typed(static_cast<const uint16_t*>(bits), n);
        case 4: return count_typed(static_cast<const uint32_t*>(bits), n);
        case 8: return count_typed(static_cast<const uint64_t*>(bits), n);
        default: throw InvalidArgument("element width must be 1, 2, 4 or 8 bytes");
    }
}

void nonzero_scan(const void* bits, size_t n, size_t width, size_t nnz, int64_t* positions, void* values,
                  uint64_t* histogram, size_t cap, std::vector<int64_t>& long_gaps) {
    switch (width) {
        case 1: return scan_typed(static_cast<const uint8_t*>(bits), n, nnz, positions, static_cast<uint8_t*>(values), histogram, cap, long_gaps);
        case 2: return scan_typed(static_cast<const uint16_t*>(bits), n, nnz, positions, static_cast<uint16_t*>(values), histogram, cap, long_gaps);
        case 4: return scan_typed(static_cast<const uint32_t*>(bits), n, nnz, positions, static_cast<uint32_t*>(values), histogram, cap, long_gaps);
        case 8: return scan_typed(static_cast<const uint64_t*>(bits), n, nnz, positions, static_cast<uint64_t*>(values), histogram, cap, long_gaps);
        default: throw InvalidArgument("element width must be 1, 2, 4 or 8 bytes");
    }
}

}  // namespace pycodec

namespace pycodec {

namespace {

// numpy's pairwise summation (add.reduce of a contiguous float64 array), so that the
// estimates rank widths as the writer's numpy version did, rounding included.
double pairwise_sum(const double* a, size_t n) {
    if (n < 8) {
        double sum = 0.0;
        for (size_t i = 0; i < n; ++i) sum += a[i];
        return sum;
    }
    if (n <= 128) {
        double r[8];
        for (size_t j = 0; j < 8; ++j) r[j] = a[j];
        size_t i = 8;
        for (; i < n - n % 8; i += 8)
            for (size_t j = 0; j < 8; ++j) r[j] += a[i + j];
        double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) sum += a[i];
        return sum;
    }
    size_t half = n / 2;
    half -= half % 8;
    return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

// Entry counts (symbols 0..M, M = 2^bits - 1 the filler) of the gaps coded with `bits` bits.
std::vector<uint64_t> gap_entry_counts(const uint64_t* histogram, size_t h, const int64_t* long_gaps, size_t l,
                                       int bits) {
    const uint64_t filler = (uint64_t{1} << bits) - 1;
    std::vector<uint64_t> counts(filler + 1, 0);
    uint64_t fillers = 0;
    for (size_t gap = 0; gap < h; ++gap) {
        if (histogram[gap] == 0) continue;
        counts[gap % filler] += histogram[gap];
        fillers += gap / filler * histogram[gap];
    }
    for (size_t i = 0; i < l; ++i) {
        const uint64_t gap = static_cast<uint64_t>(long_gaps[i]);
        counts[gap % filler] += 1;
        fillers += gap / filler;
    }
    counts[filler] += fillers;
    return counts;
}

// Order-0 information of the counts in bytes, each symbol at least one bit as a Huffman
// code spends, plus the code table's rough cost: a cheap stand-in for the coded size.
double entropy_bytes(const std::vector<uint64_t>& counts) {
    std::vector<double> used;
    for (const uint64_t c : counts)
        if (c) used.push_back(static_cast<double>(c));
    if (used.size() <= 1) return 4.0;
    const double total = pairwise_sum(used.data(), used.size());
    std::vector<double> terms(used.size());
    for (size_t i = 0; i < used.size(); ++i) terms[i] = used[i] * std::max(1.0, std::log2(total / used[i]));
    return pairwise_sum(terms.data(), terms.size()) / 8 + 1.5 * static_cast<double>(used.size()) + 16;
}

int bit_length(uint64_t value) {
    int bits = 0;
    for (; value; value >>= 1) ++bits;
    return bits;
}

}  // namespace

GapWidth plan_gap_width(const uint64_t* histogram, size_t h, const int64_t* long_gaps, size_t l, double margin,
                        int max_code_length) {
    while (h > 0 && histogram[h - 1] == 0) --h;  // only gaps that occur
    uint64_t span = h;  // the longest gap + 1 (0: no gap at all)
    for (size_t i = 0; i < l; ++i) {
        if (long_gaps[i] < 0) throw InvalidArgument("gaps cannot be negative");
        span = std::max(span, static_cast<uint64_t>(long_gaps[i]) + 1);
    }
    // from the width that needs no filler on, wider widths code the same entries
    const int widest = std::min(kMaxIndexBits, std::max(kMinIndexBits, bit_length(span)));
    std::vector<std::vector<uint64_t>> counts;
    std::vector<double> estimates;
    for (int bits = kMinIndexBits; bits <= widest; ++bits) {
        counts.push_back(gap_entry_counts(histogram, h, long_gaps, l, bits));
        estimates.push_back(entropy_bytes(counts.back()));
    }
    const double cutoff = *std::min_element(estimates.begin(), estimates.end()) * (1 + margin);
    GapWidth best{0, 0};
    for (size_t i = 0; i < counts.size(); ++i) {
        if (!(estimates[i] <= cutoff)) continue;
        const int bits = kMinIndexBits + static_cast<int>(i);
        const uint64_t size = plan_stream_from_counts(counts[i], bits <= 8 ? 8 : 16, max_code_length).total_bytes;
        if (best.bits == 0 || size < best.size) best = {bits, size};
    }
    return best;
}

}  // namespace pycodec
