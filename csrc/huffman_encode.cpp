#include "huffman_encode.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace pycodec {

namespace {

constexpr int kMaxPairCodeLength = 12;  // a pair's code then fits 24 bits
// Below this many symbols in a stream, building the pair table (rows of 256 entries for
// each symbol with a code) costs more than it saves.
constexpr uint64_t kMinSymbolsForPairs = 1 << 15;
// Two substreams coded at once: the joint loop stops 64 symbols short of the shorter one
// and must first write 64 bits of each (encode_pairs_two).
constexpr size_t kMinSymbolsForTwo = 256;

constexpr size_t kTableEntries = size_t{1} << 16;
constexpr uint32_t kUnusedPair = 2;  // a 2-bit 0: what a fresh pair table holds in rows no code wrote
// A symbol without a code never occurs in the symbols planned; should it turn up anyway
// (another thread changed them) it is written as one 0 bit: garbage that the size check
// reports, where a 0-bit entry would shift the bit writer by 64.
constexpr uint32_t kUncoded = 1;

struct KeptEntries {
    std::vector<uint32_t> entries;
    bool in_use = false;
};

KeptEntries& kept_entries(TableKind kind) {
    thread_local KeptEntries pairs, wide;
    return kind == TableKind::kPairs ? pairs : wide;
}

// The rows of the symbols b with a code: b outer, a inner, each row contiguous and shifted
// by one constant, so it vectorizes. A stream's symbols use few of the 256 (a float's sign
// and exponent byte: 30 to 130), and the table is 256 KB.
void fill_pair_rows(const uint32_t* entries, const CanonicalCode& code, uint32_t* pairs) {
    uint32_t codes[256], lengths[256];
    for (size_t a = 0; a < 256; ++a) {
        codes[a] = entries[a] >> 8;
        lengths[a] = entries[a] & 0xFFu;
    }
    for (const uint16_t b : code.symbols) {
        const uint32_t len_b = lengths[b], code_b = codes[b];
        uint32_t* row = pairs + (size_t{b} << 8);
        for (size_t a = 0; a < 256; ++a) row[a] = ((codes[a] << len_b | code_b) << 8) | (lengths[a] + len_b);
    }
}

}  // namespace

KeptTable::KeptTable(TableKind kind, uint32_t fill) {
    KeptEntries& kept = kept_entries(kind);
    if (kept.in_use) {
        own_.assign(kTableEntries, fill);
        data_ = own_.data();
        return;
    }
    if (kept.entries.empty()) kept.entries.assign(kTableEntries, fill);
    kept.in_use = true;
    lease_ = &kept.in_use;
    data_ = kept.entries.data();
}

KeptTable::~KeptTable() {
    if (lease_ != nullptr) *lease_ = false;
}

WideEntries::WideEntries(const CanonicalCode& code) : table_(TableKind::kWideEntries, kUncoded), symbols_(code.symbols) {}

WideEntries::~WideEntries() {
    uint32_t* entries = table_.data();
    for (const uint16_t s : symbols_) entries[s] = kUncoded;
}

EncodeTable make_encode_table(const CanonicalCode& code, uint64_t symbols) {
    EncodeTable table;
    uint32_t* entries;
    if (code.symbol_bits == 16) {
        table.wide_entries = std::make_unique<WideEntries>(code);
        entries = table.wide_entries->data();
    } else {
        table.byte_entries.assign(256, kUncoded);
        entries = table.byte_entries.data();
    }
    table.entries = entries;
    table.max_length = code.max_length();
    const std::vector<uint32_t> words = canonical_codewords(code);
    for (size_t i = 0; i < code.symbols.size(); ++i) entries[code.symbols[i]] = (words[i] << 8) | code.lengths[i];
    if (code.symbol_bits == 8 && table.max_length <= kMaxPairCodeLength && symbols >= kMinSymbolsForPairs) {
        table.pair_rows = std::make_unique<KeptTable>(TableKind::kPairs, kUnusedPair);
        fill_pair_rows(entries, code, table.pair_rows->data());
        table.pairs = table.pair_rows->data();
    }
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
    return table.pairs != nullptr && std::min(n0, n1) >= kMinSymbolsForTwo;
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
