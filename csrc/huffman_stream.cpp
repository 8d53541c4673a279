#include "huffman_stream.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

#include "huffman_decode.hpp"
#include "parallel.hpp"

namespace pycodec {

namespace {

constexpr uint8_t kReservedFlagBits = 0xF0;

uint8_t flags_byte(int symbol_bits, StreamMode mode) {
    return static_cast<uint8_t>((static_cast<int>(mode) << 2) | (symbol_bits == 16 ? 1 : 0));
}

int substream_count(uint64_t count) { return count >= kMultiStreamThreshold ? kEncoderSubstreams : 1; }

uint64_t segment_length(uint64_t count, int k) { return (count + static_cast<uint64_t>(k) - 1) / static_cast<uint64_t>(k); }

uint64_t segment_start(uint64_t count, int k, int i) {
    return std::min(count, segment_length(count, k) * static_cast<uint64_t>(i));
}

size_t header_size(const StreamLayout& s) {
    size_t size = 1 + varint_size(s.count);
    if (s.mode == StreamMode::kSingle) return size + (s.symbol_bits == 16 ? 2 : 1);
    if (s.mode == StreamMode::kEmpty) return size;
    size += serialized_code_size(s.code) + 1;
    for (int i = 0; i + 1 < s.substreams; ++i) size += varint_size(s.sizes[i]);
    return size;
}

// The counts a stream needs: every byte value, or a short 16-bit stream's up to its
// largest symbol (a codebook's indices of a few hundred values need not fault in and walk
// 65,536 counts; a long stream's counting costs more than they do).
constexpr size_t kAllWideCountsFrom = size_t{1} << 16;
size_t alphabet_of(const uint8_t* /*src*/, size_t /*n*/, size_t /*stride*/) { return 256; }
size_t alphabet_of(const uint16_t* src, size_t n, size_t /*stride: 1*/) {
    if (n >= kAllWideCountsFrom) return size_t{1} << 16;
    uint16_t largest = 0;
    for (size_t i = 0; i < n; ++i) largest = std::max(largest, src[i]);
    return size_t{largest} + 1;
}

void histogram(const uint8_t* src, size_t n, size_t stride, uint64_t* counts, size_t /*alphabet: 256*/) {
    histogram_u8_strided(src, n, stride, counts);
}
// Symbols past `alphabet` were not there when it was found: another thread changed them.
void histogram(const uint16_t* src, size_t n, size_t /*stride: 1*/, uint64_t* counts, size_t alphabet) {
    if (alphabet == size_t{1} << 16) return histogram_u16(src, n, counts);
    for (size_t i = 0; i < n; ++i) {
        if (src[i] >= alphabet) throw DataChanged("symbols");
        ++counts[src[i]];
    }
}

// The plan from whole-stream counts: mode, code and header. Substream sizes are the
// per-segment totals when the caller has them (encoding), else an even split of the
// coded bits (sizing: exact up to one byte of padding per substream).
StreamLayout plan_counts(const std::vector<uint64_t>& counts, uint64_t n, int symbol_bits, int max_code_length,
                         const std::vector<uint64_t>* seg_counts, bool floor = false) {
    StreamLayout s;
    s.symbol_bits = symbol_bits;
    s.count = n;
    const size_t alphabet = counts.size();
    size_t distinct = 0, first = 0;
    for (size_t sym = alphabet; sym-- > 0;)
        if (counts[sym] != 0) ++distinct, first = sym;
    if (distinct == 0) {
        s.mode = StreamMode::kEmpty;
    } else if (distinct == 1) {
        s.mode = StreamMode::kSingle;
        s.single_symbol = static_cast<uint16_t>(first);
    } else {
        s.mode = StreamMode::kHuffman;
        const int k = substream_count(n);
        s.substreams = k;
        if (seg_counts != nullptr) {
            const std::vector<uint8_t> lengths = limited_code_lengths(counts, max_code_length);
            s.code = code_from_lengths(lengths, symbol_bits);
            for (int i = 0; i < k; ++i)
                s.sizes[i] = (coded_bits(&(*seg_counts)[alphabet * static_cast<size_t>(i)], lengths.data(), alphabet) + 7) / 8;
        } else {
            // sizing: the header needs only the symbols, the payload only the total bits
            s.code.symbol_bits = symbol_bits;
            for (size_t sym = 0; sym < alphabet; ++sym)
                if (counts[sym]) s.code.symbols.push_back(static_cast<uint16_t>(sym));
            const uint64_t bits = floor ? unlimited_code_bits(counts) : limited_code_bits(counts, max_code_length);
            const uint64_t share = bits / static_cast<uint64_t>(k), rest = bits % static_cast<uint64_t>(k);
            for (int i = 0; i < k; ++i) s.sizes[i] = (share + (i == 0 ? rest : 0) + 7) / 8;
        }
    }
    s.header_bytes = header_size(s);
    s.total_bytes = s.header_bytes;
    for (int i = 0; i < s.substreams; ++i) s.total_bytes += static_cast<size_t>(s.sizes[i]);
    return s;
}

// The plan from each segment's counts (k * alphabet, in segment order).
StreamLayout plan_segments(std::vector<uint64_t> seg_counts, uint64_t n, int symbol_bits, int max_code_length) {
    const int k = substream_count(n);
    const size_t alphabet = seg_counts.size() / static_cast<size_t>(k);
    std::vector<uint64_t> counts(alphabet, 0);
    for (int i = 0; i < k; ++i)
        for (size_t sym = 0; sym < alphabet; ++sym) counts[sym] += seg_counts[alphabet * static_cast<size_t>(i) + sym];
    return plan_counts(counts, n, symbol_bits, max_code_length, &seg_counts);
}

// One histogram per segment of the n symbols, in order (alphabet counts each), added to
// `counts`: their coded sizes fix the layout before any bit is written.
template <class T>
void count_segments(const T* src, size_t n, size_t stride, uint64_t* counts, size_t alphabet = 256) {
    const int k = substream_count(n);
    for (int i = 0; i < k; ++i) {
        const uint64_t begin = segment_start(n, k, i), end = segment_start(n, k, i + 1);
        histogram(src + begin * stride, static_cast<size_t>(end - begin), stride, counts + alphabet * static_cast<size_t>(i),
                  alphabet);
    }
}

template <class T>
StreamLayout plan_typed(const T* src, size_t n, int max_code_length, size_t stride = 1) {
    const size_t alphabet = alphabet_of(src, n, stride);
    std::vector<uint64_t> seg_counts(alphabet * static_cast<size_t>(substream_count(n)), 0);
    count_segments(src, n, stride, seg_counts.data(), alphabet);
    return plan_segments(std::move(seg_counts), n, 8 * static_cast<int>(sizeof(T)), max_code_length);
}

size_t encode_segment(const uint8_t* src, size_t stride, size_t n, const EncodeTable& table, uint8_t* out,
                      size_t capacity) {
    return encode_symbols_strided(src, stride, n, table, out, capacity);
}
size_t encode_segment(const uint16_t* src, size_t /*stride: 1*/, size_t n, const EncodeTable& table, uint8_t* out,
                      size_t capacity) {
    return encode_symbols(src, n, table, out, capacity);
}

void check_written(const StreamLayout& s, int i, size_t written) {
    if (written != s.sizes[i])
        throw DataChanged("symbols");
}

// Substreams [first, last) written from `out` on, in order: each one's spill past its end
// is overwritten by the next. Byte substreams go two at a time where the code allows
// (encode_two_symbols_strided). Returns the bytes written.
template <class T>
size_t write_substreams(const StreamLayout& s, const EncodeTable& table, const T* src, size_t stride, int first,
                        int last, uint8_t* out) {
    size_t total = 0;
    for (int i = first; i < last;) {
        const uint64_t begin = segment_start(s.count, s.substreams, i);
        const uint64_t end = segment_start(s.count, s.substreams, i + 1);
        const size_t n = static_cast<size_t>(end - begin);
        if constexpr (sizeof(T) == 1) {
            const size_t next = i + 1 < last ? static_cast<size_t>(segment_start(s.count, s.substreams, i + 2) - end) : 0;
            if (i + 1 < last && can_encode_two(table, n, next)) {
                size_t written[2];
                encode_two_symbols_strided(src + begin * stride, n, src + end * stride, next, stride, table, out + total,
                                           out + total + s.sizes[i], s.sizes[i + 1], written);
                check_written(s, i, written[0]);
                check_written(s, i + 1, written[1]);
                total += written[0] + written[1];
                i += 2;
                continue;
            }
        }
        const size_t written = encode_segment(src + begin * stride, stride, n, table, out + total, s.sizes[i]);
        check_written(s, i, written);
        total += written;
        ++i;
    }
    return total;
}

// With two threads, the second half of the substreams is coded on a thread of its own into
// a buffer of its own (its spill would otherwise race with the first half's last bytes),
// then copied into place.
template <class T>
void write_payload(const StreamLayout& s, const T* src, size_t stride, uint8_t* out, int threads) {
    const EncodeTable table = make_encode_table(s.code, s.count);
    if (threads < 2 || s.substreams < 2) {
        write_substreams(s, table, src, stride, 0, s.substreams, out);
        return;
    }
    const int half = s.substreams / 2;
    size_t first_bytes = 0, second_bytes = 0;
    for (int i = 0; i < s.substreams; ++i) (i < half ? first_bytes : second_bytes) += s.sizes[i];
    std::unique_ptr<uint8_t[]> second(new uint8_t[second_bytes + 8]);
    parallel_for(2, 2, [&](size_t part) {
        if (part == 0)
            write_substreams(s, table, src, stride, 0, half, out);
        else
            write_substreams(s, table, src, stride, half, s.substreams, second.get());
    });
    std::memcpy(out + first_bytes, second.get(), second_bytes);
}

}  // namespace

StreamLayout plan_stream(const uint8_t* src, size_t n, int max_code_length, size_t stride) {
    return plan_typed(src, n, max_code_length, stride);
}
StreamLayout plan_stream_from_counts(const std::vector<uint64_t>& counts, int symbol_bits, int max_code_length,
                                     bool floor) {
    uint64_t n = 0;
    for (uint64_t c : counts) n += c;
    return plan_counts(counts, n, symbol_bits, max_code_length, nullptr, floor);
}
StreamLayout plan_stream(const uint16_t* src, size_t n, int max_code_length) { return plan_typed(src, n, max_code_length); }
StreamLayout plan_stream_from_segments(const uint64_t* segment_counts, size_t n, int max_code_length) {
    const size_t values = 256 * static_cast<size_t>(substream_count(n));
    return plan_segments(std::vector<uint64_t>(segment_counts, segment_counts + values), n, 8, max_code_length);
}

int encoder_segments(uint64_t n) { return substream_count(n); }
uint64_t segment_begin(uint64_t n, int i) { return segment_start(n, substream_count(n), i); }

void segment_histograms(const uint8_t* src, size_t n, size_t stride, uint64_t* counts) {
    count_segments(src, n, stride, counts);
}

void write_stream(const StreamLayout& s, const void* src, uint8_t* out, int threads, size_t stride) {
    ByteWriter w(out);
    w.u8(flags_byte(s.symbol_bits, s.mode));
    w.varint(s.count);
    if (s.mode == StreamMode::kSingle) {
        if (s.symbol_bits == 16)
            w.u16le(s.single_symbol);
        else
            w.u8(static_cast<uint8_t>(s.single_symbol));
    }
    if (s.mode != StreamMode::kHuffman) return;
    serialize_code(s.code, w);
    w.u8(static_cast<uint8_t>(s.substreams));
    for (int i = 0; i + 1 < s.substreams; ++i) w.varint(s.sizes[i]);
    if (s.symbol_bits == 16)
        write_payload(s, static_cast<const uint16_t*>(src), 1, w.position(), threads);
    else
        write_payload(s, static_cast<const uint8_t*>(src), stride, w.position(), threads);
}

// ------------------------------------------------------------------ decoding

namespace {

void parse_flags(ByteReader& in, StreamLayout& s) {
    const uint8_t flags = in.u8("stream flags");
    if (flags & kReservedFlagBits) throw CorruptStream("reserved stream flag bits are set");
    const int width = flags & 0x3;
    const int mode = (flags >> 2) & 0x3;
    if (width > 1) throw CorruptStream("reserved symbol width " + std::to_string(width));
    if (mode > 2) throw CorruptStream("reserved stream mode 3");
    s.symbol_bits = width ? 16 : 8;
    s.mode = static_cast<StreamMode>(mode);
}

void parse_huffman_body(ByteReader& in, StreamLayout& s) {
    s.code = parse_code(in, s.symbol_bits);
    if (s.code.symbols.size() < 2) throw CorruptStream("a Huffman-mode code must have at least 2 symbols");
    const int k = in.u8("substream count");
    if (k < 1 || k > kMaxSubstreams) throw CorruptStream("substream count " + std::to_string(k) + " outside 1..8");
    s.substreams = k;
    uint64_t listed = 0;
    for (int i = 0; i + 1 < k; ++i) {
        s.sizes[i] = in.varint("substream size");
        if (s.sizes[i] > in.remaining() || listed + s.sizes[i] > in.remaining())
            throw CorruptStream("substream sizes exceed the bytes present");
        listed += s.sizes[i];
    }
    s.header_bytes = in.offset();
    s.sizes[k - 1] = in.remaining() - listed;
    // every symbol costs at least one bit: this bounds the allocation by the bytes present
    if (s.count / 8 > in.remaining())
        throw CorruptStream("declared symbol count " + std::to_string(s.count) + " exceeds what " +
                            std::to_string(in.remaining()) + " payload byte(s) can hold");
}

}  // namespace

StreamLayout parse_stream(const uint8_t* data, size_t size, uint64_t max_symbols) {
    ByteReader in(data, size);
    StreamLayout s;
    parse_flags(in, s);
    s.count = in.varint("symbol count");
    switch (s.mode) {
        case StreamMode::kEmpty:
            if (s.count != 0) throw CorruptStream("an empty-mode stream must declare 0 symbols");
            break;
        case StreamMode::kSingle:
            if (s.count == 0) throw CorruptStream("a single-symbol stream must declare at least 1 symbol");
            if (s.count > max_symbols)
                throw LimitExceeded("stream declares " + std::to_string(s.count) + " symbols, over the limit of " +
                                    std::to_string(max_symbols) + " (raise max_symbols to allow it)");
            s.single_symbol = s.symbol_bits == 16 ? in.u16le("single symbol") : in.u8("single symbol");
            break;
        case StreamMode::kHuffman:
            if (s.count == 0) throw CorruptStream("a Huffman-mode stream must declare at least 1 symbol");
            if (s.count > max_symbols)
                throw LimitExceeded("stream declares " + std::to_string(s.count) + " symbols, over the limit of " +
                                    std::to_string(max_symbols));
            parse_huffman_body(in, s);
            in.take(in.remaining(), "payload");
            break;
    }
    if (s.mode != StreamMode::kHuffman) s.header_bytes = in.offset();
    if (in.remaining() != 0) throw CorruptStream(std::to_string(in.remaining()) + " trailing byte(s) after the stream");
    s.total_bytes = size;
    return s;
}

void decode_stream(const StreamLayout& s, const uint8_t* data, size_t size, void* out) {
    const size_t width = static_cast<size_t>(s.symbol_bits / 8);
    if (s.mode == StreamMode::kSingle) {
        if (width == 1)
            std::fill_n(static_cast<uint8_t*>(out), s.count, static_cast<uint8_t>(s.single_symbol));
        else
            std::fill_n(static_cast<uint16_t*>(out), s.count, s.single_symbol);
        return;
    }
    if (s.mode != StreamMode::kHuffman) return;
    decode_substream_range(s, stream_tables(s), data, size, out, 0, s.substreams);
}

DecodeTables stream_tables(const StreamLayout& s) { return make_decode_tables(s.code, s.count); }

void decode_substream_range(const StreamLayout& s, const DecodeTables& tables, const uint8_t* data, size_t size,
                            void* out, int first, int n) {
    const size_t width = static_cast<size_t>(s.symbol_bits / 8);
    Substream subs[kMaxSubstreams];
    const uint8_t* cursor = data + s.header_bytes;
    for (int i = 0; i < first; ++i) cursor += s.sizes[i];
    for (int j = 0; j < n; ++j) {
        const int i = first + j;
        const uint64_t begin = segment_start(s.count, s.substreams, i);
        const uint64_t end = segment_start(s.count, s.substreams, i + 1);
        subs[j] = Substream{cursor, static_cast<size_t>(s.sizes[i]), static_cast<uint8_t*>(out) + begin * width,
                            static_cast<size_t>(end - begin)};
        cursor += s.sizes[i];
    }
    decode_substreams(tables, subs, n, data + size);
}

uint64_t payload_bytes(const StreamLayout& s) { return s.total_bytes - s.header_bytes; }

bool plan_size_at_most(const std::vector<uint64_t>& counts, int symbol_bits, int max_code_length, uint64_t at_most,
                       uint64_t& size) {
    const bool bounded = at_most != std::numeric_limits<uint64_t>::max();
    if (bounded && plan_stream_from_counts(counts, symbol_bits, max_code_length, true).total_bytes > at_most) return false;
    size = plan_stream_from_counts(counts, symbol_bits, max_code_length).total_bytes;
    return true;
}

}  // namespace pycodec
