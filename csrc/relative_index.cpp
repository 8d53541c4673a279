#include "relative_index.hpp"

#include <algorithm>

#include <string>

#include "common.hpp"

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
