#include "scatter.hpp"

#include <algorithm>
#include <string>

#include "common.hpp"

namespace pycodec {

namespace {

template <class V, class I>
void check_indices(const I* idx, size_t n, size_t book_size) {
    I largest = 0;
    for (size_t i = 0; i < n; ++i) largest = idx[i] > largest ? idx[i] : largest;
    if (n && static_cast<size_t>(largest) >= book_size)
        throw CorruptStream("codebook index " + std::to_string(largest) + " out of range for a codebook of " +
                            std::to_string(book_size));
}

// An index checked above, read again: clamped, so that indices another thread changes in
// between (the arrays may be a caller's) read garbage within the codebook, not past it.
template <class I>
inline size_t within(I index, size_t book_size) {
    return std::min(static_cast<size_t>(index), book_size - 1);
}

template <class V, class I>
void gather_typed(const V* book, size_t book_size, const I* idx, size_t n, V* out) {
    check_indices<V>(idx, n, book_size);
    for (size_t i = 0; i < n; ++i) out[i] = book[within(idx[i], book_size)];
}

template <class V, class I>
void scatter_typed(const V* book, size_t book_size, const I* idx, size_t n, const int64_t* pos, uint64_t numel,
                   V* out) {
    check_indices<V>(idx, n, book_size);
    for (size_t i = 0; i < n; ++i) {
        const int64_t position = __atomic_load_n(pos + i, __ATOMIC_RELAXED);  // one read: checked is written
        if (position < 0 || static_cast<uint64_t>(position) >= numel)
            throw CorruptStream("position " + std::to_string(position) + " outside the tensor's " +
                                std::to_string(numel) + " elements");
        out[position] = book[within(idx[i], book_size)];
    }
}

template <class V, class I, class E>
void sparse_scatter_typed(const V* book, size_t book_size, const I* idx, size_t n_idx, const E* entries,
                          size_t n_entries, int bits, uint64_t numel, V* out) {
    check_indices<V>(idx, n_idx, book_size);
    const uint64_t filler = (uint64_t{1} << bits) - 1;
    uint64_t cursor = 0;
    size_t j = 0;
    for (size_t i = 0; i < n_entries; ++i) {
        const uint64_t e = __atomic_load_n(entries + i, __ATOMIC_RELAXED);  // one read: checked is used
        if (e >= filler) {
            if (e > filler) throw CorruptStream("relative-index entry exceeds 2^bits - 1");
            cursor += filler;
            if (cursor > numel) throw CorruptStream("relative-index fillers run past the tensor's end");
            continue;
        }
        const uint64_t position = cursor + e;
        if (position >= numel)
            throw CorruptStream("relative index points past the tensor's " + std::to_string(numel) + " elements");
        if (j == n_idx) throw CorruptStream("more relative-index entries than codebook indices");
        out[position] = book[within(idx[j++], book_size)];
        cursor = position + 1;
    }
    if (j != n_idx)
        throw CorruptStream(std::to_string(n_idx - j) + " codebook index(es) left without a position");
}

// Calls fn(V*) / fn(I*) with the element types that match the run-time widths.
template <class Fn>
void with_value_type(size_t width, Fn&& fn) {
    switch (width) {
        case 1: return fn(uint8_t{});
        case 2: return fn(uint16_t{});
        case 4: return fn(uint32_t{});
        case 8: return fn(uint64_t{});
        default: throw InvalidArgument("codebook elements must be 1, 2, 4 or 8 bytes");
    }
}

template <class Fn>
void with_index_type(size_t width, Fn&& fn) {
    if (width == 1) return fn(uint8_t{});
    if (width == 2) return fn(uint16_t{});
    throw InvalidArgument("indices must be uint8 or uint16");
}

}  // namespace

void gather(const Codebook& book, const Indices& idx, void* out) {
    with_value_type(book.width, [&](auto v) {
        using V = decltype(v);
        with_index_type(idx.width, [&](auto i) {
            using I = decltype(i);
            gather_typed(static_cast<const V*>(book.data), book.size, static_cast<const I*>(idx.data), idx.count,
                         static_cast<V*>(out));
        });
    });
}

void scatter(const Codebook& book, const Indices& idx, const int64_t* positions, uint64_t numel, void* out) {
    with_value_type(book.width, [&](auto v) {
        using V = decltype(v);
        with_index_type(idx.width, [&](auto i) {
            using I = decltype(i);
            scatter_typed(static_cast<const V*>(book.data), book.size, static_cast<const I*>(idx.data), idx.count,
                          positions, numel, static_cast<V*>(out));
        });
    });
}

void sparse_scatter(const Codebook& book, const Indices& idx, const Indices& entries, int bits, uint64_t numel,
                    void* out) {
    if (bits < kMinIndexBits || bits > kMaxIndexBits) throw InvalidArgument("index bits must be in 1..16");
    with_value_type(book.width, [&](auto v) {
        using V = decltype(v);
        with_index_type(idx.width, [&](auto i) {
            using I = decltype(i);
            with_index_type(entries.width, [&](auto e) {
                using E = decltype(e);
                sparse_scatter_typed(static_cast<const V*>(book.data), book.size, static_cast<const I*>(idx.data),
                                     idx.count, static_cast<const E*>(entries.data), entries.count, bits, numel,
                                     static_cast<V*>(out));
            });
        });
    });
}

}  // namespace pycodec
