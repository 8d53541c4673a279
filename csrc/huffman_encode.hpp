// Bit-packed Huffman encoding of uint8/uint16 symbols with a canonical code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "huffman_code.hpp"

namespace pycodec {

// A table of 65,536 uint32 entries of one kind: the calling thread's own, kept between
// streams, or, while that one is in use, a fresh one holding `fill` everywhere. Pair tables
// (a byte stream of 32,768 symbols or more) and 16-bit codes' entries each have their own;
// allocating and faulting in 256 KB per stream cost more than coding a short one.
enum class TableKind { kPairs, kWideEntries };

class KeptTable {
  public:
    KeptTable(TableKind kind, uint32_t fill);
    ~KeptTable();
    KeptTable(const KeptTable&) = delete;
    KeptTable& operator=(const KeptTable&) = delete;
    uint32_t* data() { return data_; }

  private:
    std::vector<uint32_t> own_;
    uint32_t* data_ = nullptr;
    bool* lease_ = nullptr;  // the kept table's in-use flag, cleared on release
};

// The entries of a 16-bit code in a kept table, every other entry a 1-bit 0: the code's
// own entries are put back to that when it is done with.
class WideEntries {
  public:
    explicit WideEntries(const CanonicalCode& code);
    ~WideEntries();
    WideEntries(const WideEntries&) = delete;
    WideEntries& operator=(const WideEntries&) = delete;
    uint32_t* data() { return table_.data(); }

  private:
    KeptTable table_;
    std::vector<uint16_t> symbols_;
};

// Per-symbol (codeword << 8 | length), indexed by symbol value; a 1-bit 0 for symbols
// without a code (they never occur in the symbols a table is made for).
// `pairs`, where built: the codes of two uint8 symbols at once, pairs[a | b << 8] = the codes
// of a then b (halves the work per symbol); built once per stream, shared by its substreams.
// Only the rows of symbols b with a code are written; the others hold codes of an earlier
// table or a 2-bit 0, never read for the symbols planned and no longer than 24 bits
// should the symbols change after planning (the size check reports that).
struct EncodeTable {
    const uint32_t* entries = nullptr;  // 256 or 65,536, by symbol
    const uint32_t* pairs = nullptr;
    int max_length = 0;
    std::vector<uint32_t> byte_entries;  // the memory behind `entries` for 8-bit symbols
    std::unique_ptr<WideEntries> wide_entries;  // the memory behind `entries` for 16-bit symbols
    std::unique_ptr<KeptTable> pair_rows;  // the memory behind `pairs`
};

// The table for `code`; with the pair table when the code's lengths allow it and `symbols`
// (the stream's symbol count) repay building it.
EncodeTable make_encode_table(const CanonicalCode& code, uint64_t symbols = 0);

// Total coded bits of a histogram under per-symbol code lengths (both indexed by symbol,
// `alphabet` entries; length 0 for symbols without a code).
uint64_t coded_bits(const uint64_t* counts, const uint8_t* lengths, size_t alphabet);

// Packs the codes of n symbols MSB-first at `out`, zero-padding the last byte. Returns the
// bytes of the substream, ceil(bits / 8). `capacity`: its planned size (from counting the
// symbols); nothing is written past it but 8 bytes of slack the caller leaves, whatever
// the symbols hold by now (another thread may have changed them): a result other than
// `capacity` then tells that they changed.
size_t encode_symbols(const uint8_t* src, size_t n, const EncodeTable& table, uint8_t* out, size_t capacity);
size_t encode_symbols(const uint16_t* src, size_t n, const EncodeTable& table, uint8_t* out, size_t capacity);

// The same for byte symbols `stride` bytes apart (1, 2, 4 or 8): a byte plane of wider
// elements, read in place.
size_t encode_symbols_strided(const uint8_t* src, size_t stride, size_t n, const EncodeTable& table, uint8_t* out,
                              size_t capacity);

// Two substreams of byte symbols at once, the second written at `out1`, right after the
// first's planned size, within `capacity1` (as above); `written` gets each one's bytes.
// The second may spill 8 bytes past its end, the first none. Only with a pair table and
// at least 256 symbols each (can_encode_two).
bool can_encode_two(const EncodeTable& table, size_t n0, size_t n1);
void encode_two_symbols_strided(const uint8_t* src0, size_t n0, const uint8_t* src1, size_t n1, size_t stride,
                                const EncodeTable& table, uint8_t* out0, uint8_t* out1, size_t capacity1,
                                size_t* written);

}  // namespace pycodec
