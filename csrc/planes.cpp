#include "planes.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "parallel.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace pycodec {

namespace {

template <int kWidth>
void split_plane(const uint8_t* elements, size_t count, int k, uint8_t* plane) {
    const uint8_t* src = elements + k;
    for (size_t i = 0; i < count; ++i) plane[i] = src[i * kWidth];
}

#if defined(__SSE2__)
inline __m128i load16(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
inline void store16(uint8_t* p, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }

// The even and the odd bytes of a then b, in order (16 each): a mask or a shift keeps one
// byte of each 16-bit lane, and a saturating pack (exact on 0..255) gathers them.
inline void unzip(__m128i a, __m128i b, __m128i& even, __m128i& odd) {
    const __m128i low = _mm_set1_epi16(0x00FF);
    even = _mm_packus_epi16(_mm_and_si128(a, low), _mm_and_si128(b, low));
    odd = _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8));
}

// 16 elements of kWidth bytes (kWidth registers) into one register per plane: each round
// splits by one more bit of the byte index (even/odd, then bit 1, then bit 2).
template <int kWidth>
inline void split16(const uint8_t* in, __m128i* p) {
    __m128i r[kWidth];
    for (int k = 0; k < kWidth; ++k) r[k] = load16(in + 16 * k);
    if constexpr (kWidth == 2) {
        unzip(r[0], r[1], p[0], p[1]);
    } else if constexpr (kWidth == 4) {
        __m128i e[2], o[2];
        unzip(r[0], r[1], e[0], o[0]);
        unzip(r[2], r[3], e[1], o[1]);
        unzip(e[0], e[1], p[0], p[2]);
        unzip(o[0], o[1], p[1], p[3]);
    } else {
        __m128i e[4], o[4], ee[2], eo[2], oe[2], oo[2];
        for (int j = 0; j < 4; ++j) unzip(r[2 * j], r[2 * j + 1], e[j], o[j]);
        unzip(e[0], e[1], ee[0], eo[0]);
        unzip(e[2], e[3], ee[1], eo[1]);
        unzip(o[0], o[1], oe[0], oo[0]);
        unzip(o[2], o[3], oe[1], oo[1]);
        unzip(ee[0], ee[1], p[0], p[4]);
        unzip(eo[0], eo[1], p[2], p[6]);
        unzip(oe[0], oe[1], p[1], p[5]);
        unzip(oo[0], oo[1], p[3], p[7]);
    }
}

// Elements [0, count) split into the planes whose destination is not null, 16 at a time;
// returns how many it split (the rest: split_plane).
template <int kWidth>
size_t split_sse2(const uint8_t* elements, size_t count, uint8_t* const* dst) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m128i p[kWidth];
        split16<kWidth>(elements + i * kWidth, p);
        for (int k = 0; k < kWidth; ++k)
            if (dst[k]) store16(dst[k] + i, p[k]);
    }
    return i;
}
#endif

// Elements [0, count) split into every plane whose destination is not null, in one pass.
template <int kWidth>
void split_planes_width(const uint8_t* elements, size_t count, uint8_t* const* dst) {
    size_t done = 0;
#if defined(__SSE2__)
    done = split_sse2<kWidth>(elements, count, dst);
#endif
    for (int k = 0; k < kWidth; ++k)
        if (dst[k]) split_plane<kWidth>(elements + done * kWidth, count - done, k, dst[k] + done);
}

// The planes of elements [0, count) whose destination is not null, split on up to
// `threads` threads by element ranges.
void split_planes(const uint8_t* elements, size_t count, int itemsize, uint8_t* const* dst, int threads) {
    constexpr size_t kMinRange = size_t{1} << 16;
    const size_t parts = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)),
                                                              count / kMinRange));
    parallel_for(parts, threads, [&](size_t part) {
        // 16-element aligned ranges, the last one running to the end
        const size_t begin = (count * part / parts) & ~size_t{15};
        const size_t end = part + 1 == parts ? count : (count * (part + 1) / parts) & ~size_t{15};
        uint8_t* shifted[8] = {};
        for (int k = 0; k < itemsize; ++k) shifted[k] = dst[k] ? dst[k] + begin : nullptr;
        const uint8_t* from = elements + begin * static_cast<size_t>(itemsize);
        switch (itemsize) {
            case 1: if (shifted[0]) std::memcpy(shifted[0], from, end - begin); return;
            case 2: split_planes_width<2>(from, end - begin, shifted); return;
            case 4: split_planes_width<4>(from, end - begin, shifted); return;
            default: split_planes_width<8>(from, end - begin, shifted); return;
        }
    });
}

}  // namespace

PlanesPlan plan_planes(const uint8_t* elements, size_t count, int itemsize, unsigned coded_mask,
                       int max_code_length, int threads, const uint64_t* segment_counts) {
    const size_t s = static_cast<size_t>(itemsize);
    PlanesPlan plan;
    plan.elements = elements;
    plan.count = count;
    plan.itemsize = itemsize;
    plan.layouts.resize(s);
    plan.stream_bytes.assign(s, 0);
    const size_t per_plane = 256 * static_cast<size_t>(encoder_segments(count));
    // each plane is read in place, `itemsize` bytes apart: no copy of it is made
    parallel_for(s, threads, [&](size_t k) {
        if (!(coded_mask >> k & 1u)) return;
        plan.layouts[k] = segment_counts != nullptr
                              ? plan_stream_from_segments(segment_counts + k * per_plane, count, max_code_length)
                              : plan_stream(elements + k, count, max_code_length, s);
        if (plane_worth_coding(plan.layouts[k].total_bytes, count)) plan.stream_bytes[k] = plan.layouts[k].total_bytes;
    });
    plan.offsets.assign(s + 1, 0);
    for (size_t k = 0; k < s; ++k) plan.offsets[k + 1] = plan.offsets[k] + (plan.stream_bytes[k] ? plan.stream_bytes[k] : count);
    return plan;
}

namespace {

// One plane's estimate (plan_plane_sizes).
uint64_t plan_plane_size(const uint64_t* histogram, double scale, uint64_t numel, int max_code_length) {
    std::vector<uint64_t> counts(256);
    for (size_t s = 0; s < 256; ++s) {
        const uint64_t c = histogram[s];
        counts[s] = c ? std::max<uint64_t>(1, static_cast<uint64_t>(std::nearbyint(static_cast<double>(c) * scale))) : 0;
    }
    const double bits = counts_entropy(counts.data(), counts.size()).bits;
    const uint64_t floor = static_cast<uint64_t>(std::ceil(bits / 8 * (1 - 1e-9)));  // a hair under, for rounding
    if (!plane_worth_coding(floor, numel)) return numel;
    const uint64_t planned = plan_stream_from_counts(counts, 8, max_code_length).total_bytes;
    return plane_worth_coding(planned, numel) ? planned : numel;
}

}  // namespace

std::vector<uint64_t> plan_plane_sizes(const uint64_t* histograms, size_t planes, double scale, uint64_t numel,
                                       int max_code_length) {
    std::vector<uint64_t> sizes(planes);
    for (size_t k = 0; k < planes; ++k) sizes[k] = plan_plane_size(histograms + 256 * k, scale, numel, max_code_length);
    return sizes;
}

namespace {

// The planes stored raw, split from the elements in one pass.
void write_raw_planes(const PlanesPlan& plan, uint8_t* out, int threads) {
    uint8_t* raw[8] = {};
    for (size_t k = 0; k < plan.layouts.size(); ++k)
        if (!plan.stream_bytes[k]) raw[k] = out + plan.offsets[k];
    split_planes(plan.elements, plan.count, plan.itemsize, raw, threads);
}

// Plane k's stream, read in place from the elements.
void write_plane_stream(const PlanesPlan& plan, size_t k, uint8_t* out, int threads) {
    write_stream(plan.layouts[k], plan.elements + k, out, threads, static_cast<size_t>(plan.itemsize));
}

}  // namespace

void write_planes(const PlanesPlan& plan, uint8_t* out, int threads) {
    const size_t s = plan.layouts.size();
    const std::vector<size_t>& offsets = plan.offsets;
    if (threads <= 1) {  // in plane order, each spill is overwritten by the plane after it
        for (size_t k = 0; k < s; ++k)
            if (plan.stream_bytes[k]) write_plane_stream(plan, k, out + offsets[k], 1);
        write_raw_planes(plan, out, 1);  // after the streams: a spill into a raw plane is overwritten
        return;
    }
    // A stream's bit writer may spill up to 8 bytes past its end: threads write the streams
    // into buffers of their own, copied into place afterwards. Threads beyond one per
    // coded plane split each stream's substreams (fp32 weights code one plane of four).
    size_t coded = 0;
    for (size_t k = 0; k < s; ++k) coded += plan.stream_bytes[k] != 0;
    const int per_stream = coded && static_cast<size_t>(threads) > coded ? threads / static_cast<int>(coded) : 1;
    std::vector<std::unique_ptr<uint8_t[]>> streams(s);
    parallel_for(s, threads, [&](size_t k) {
        if (!plan.stream_bytes[k]) return;
        streams[k].reset(new uint8_t[plan.stream_bytes[k] + 8]);
        write_plane_stream(plan, k, streams[k].get(), per_stream);
    });
    write_raw_planes(plan, out, threads);
    for (size_t k = 0; k < s; ++k)
        if (plan.stream_bytes[k]) std::memcpy(out + offsets[k], streams[k].get(), plan.stream_bytes[k]);
}

namespace {

// Each element assembled in a register from its bytes (little-endian), then stored whole.
template <class T, int kWidth>
void join_typed(const uint8_t* const* planes, size_t count, uint8_t* out) {
    for (size_t i = 0; i < count; ++i) {
        T element = 0;
        for (int k = 0; k < kWidth; ++k) element |= static_cast<T>(planes[k][i]) << (8 * k);
        for (int k = 0; k < kWidth; ++k) out[i * kWidth + k] = static_cast<uint8_t>(element >> (8 * k));
    }
}

#if defined(__SSE2__)
// 16 elements at a time by byte interleaves (SSE2, which every x86-64 CPU has): 2, 4 or 8
// plane registers in, as many output registers out, log2(width) rounds of unpacks.

// Interleaves a and b in units of 1, 2 or 4 bytes: the low halves, then the high halves.
template <int kUnit>
inline void zip(__m128i a, __m128i b, __m128i& lo, __m128i& hi) {
    if constexpr (kUnit == 1) lo = _mm_unpacklo_epi8(a, b), hi = _mm_unpackhi_epi8(a, b);
    if constexpr (kUnit == 2) lo = _mm_unpacklo_epi16(a, b), hi = _mm_unpackhi_epi16(a, b);
    if constexpr (kUnit == 4) lo = _mm_unpacklo_epi32(a, b), hi = _mm_unpackhi_epi32(a, b);
}

// 16 elements of 2 bytes: planes (0, 1) zipped bytewise.
inline void join16_w2(const __m128i* p, uint8_t* out) {
    __m128i o[2];
    zip<1>(p[0], p[1], o[0], o[1]);
    for (int k = 0; k < 2; ++k) store16(out + 16 * k, o[k]);
}

// 16 elements of 4 bytes: byte pairs (0,1) and (2,3), then those pairs zipped 2 bytes wide.
inline void join16_w4(const __m128i* p, uint8_t* out) {
    __m128i u[4], o[4];
    zip<1>(p[0], p[1], u[0], u[1]);
    zip<1>(p[2], p[3], u[2], u[3]);
    zip<2>(u[0], u[2], o[0], o[1]);
    zip<2>(u[1], u[3], o[2], o[3]);
    for (int k = 0; k < 4; ++k) store16(out + 16 * k, o[k]);
}

// 16 elements of 8 bytes: bytes 0-3 and 4-7 assembled as for 4-byte elements, then zipped
// 4 bytes wide.
inline void join16_w8(const __m128i* p, uint8_t* out) {
    __m128i u[8], w[4], x[4], o[8];
    for (int m = 0; m < 4; ++m) zip<1>(p[2 * m], p[2 * m + 1], u[2 * m], u[2 * m + 1]);
    zip<2>(u[0], u[2], w[0], w[1]);
    zip<2>(u[1], u[3], w[2], w[3]);
    zip<2>(u[4], u[6], x[0], x[1]);
    zip<2>(u[5], u[7], x[2], x[3]);
    for (int k = 0; k < 4; ++k) zip<4>(w[k], x[k], o[2 * k], o[2 * k + 1]);
    for (int k = 0; k < 8; ++k) store16(out + 16 * k, o[k]);
}

// The elements 16 at a time; returns how many it joined (the rest: join_typed).
template <int kWidth>
size_t join_sse2(const uint8_t* const* planes, size_t count, uint8_t* out) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m128i p[kWidth];
        for (int k = 0; k < kWidth; ++k) p[k] = load16(planes[k] + i);
        if constexpr (kWidth == 2) join16_w2(p, out + i * kWidth);
        if constexpr (kWidth == 4) join16_w4(p, out + i * kWidth);
        if constexpr (kWidth == 8) join16_w8(p, out + i * kWidth);
    }
    return i;
}
#endif

template <class T, int kWidth>
void join_width(const uint8_t* const* planes, size_t count, uint8_t* out) {
    size_t done = 0;
#if defined(__SSE2__)
    done = join_sse2<kWidth>(planes, count, out);
#endif
    const uint8_t* rest[kWidth];
    for (int k = 0; k < kWidth; ++k) rest[k] = planes[k] + done;
    join_typed<T, kWidth>(rest, count - done, out + done * kWidth);
}

// Decoding's last step: element j's byte k is byte j of plane k, for `width` planes of
// `count` bytes each (1, 2, 4 or 8), written to `out` (count * width bytes).
void join_planes(const uint8_t* const* planes, int width, size_t count, uint8_t* out) {
    switch (width) {
        case 1: std::memcpy(out, planes[0], count); return;
        case 2: join_width<uint16_t, 2>(planes, count, out); return;
        case 4: join_width<uint32_t, 4>(planes, count, out); return;
        default: join_width<uint64_t, 8>(planes, count, out); return;
    }
}

// A run of consecutive substreams of one coded plane: a unit of decoding work.
struct DecodeTask {
    size_t plane;
    int first;
    int n;
};

// The tasks for the coded planes: one per plane, or two halves of each plane's substreams
// when there are more threads than coded planes.
std::vector<DecodeTask> decode_tasks(const std::vector<PlaneSource>& planes, int threads) {
    size_t coded = 0;
    for (const PlaneSource& p : planes) coded += p.stream && p.stream->mode == StreamMode::kHuffman;
    std::vector<DecodeTask> tasks;
    for (size_t k = 0; k < planes.size(); ++k) {
        const StreamLayout* s = planes[k].stream;
        if (!s || s->mode != StreamMode::kHuffman) continue;
        const int halves = static_cast<size_t>(threads) > coded && s->substreams >= 2 ? 2 : 1;
        for (int h = 0; h < halves; ++h) {
            const int first = s->substreams * h / halves;
            tasks.push_back({k, first, s->substreams * (h + 1) / halves - first});
        }
    }
    return tasks;
}

// Below this many output bytes, the join runs on one thread (starting threads costs more).
constexpr size_t kParallelJoinBytes = size_t{1} << 20;

}  // namespace

namespace {

// The first coded plane of a multi-plane tensor decodes into the output's last `count`
// bytes and is joined from there: no buffer of its own, whose fresh pages cost about as
// much as decoding on a first load. Joining forward is safe in place: element i's bytes
// land below byte i of that plane, except for the last element, which reads it first.
size_t plane_decoded_in_place(const std::vector<PlaneSource>& planes) {
    if (planes.size() < 2) return planes.size();
    for (size_t k = 0; k < planes.size(); ++k)
        if (planes[k].stream) return k;
    return planes.size();
}

void join_range(const std::vector<const uint8_t*>& sources, size_t begin, size_t end, uint8_t* out) {
    const size_t width = sources.size();
    std::vector<const uint8_t*> from(width);
    for (size_t k = 0; k < width; ++k) from[k] = sources[k] + begin;
    join_planes(from.data(), static_cast<int>(width), end - begin, out + begin * width);
}

// Elements [0, safe) write below the in-place plane, so they join on `threads`; the rest
// write over it and join on one thread, forward.
void join_all(const std::vector<const uint8_t*>& sources, size_t count, uint8_t* out, bool in_place, int threads) {
    const size_t width = sources.size();
    const size_t parts = count * width >= kParallelJoinBytes ? static_cast<size_t>(std::max(threads, 1)) : 1;
    const size_t safe = in_place ? count * (width - 1) / width / 16 * 16 : count;
    parallel_for(parts, threads, [&](size_t i) { join_range(sources, safe * i / parts, safe * (i + 1) / parts, out); });
    if (safe < count) join_range(sources, safe, count, out);
}

}  // namespace

void decode_planes(const std::vector<PlaneSource>& planes, size_t count, uint8_t* out, int threads) {
    const size_t width = planes.size();
    const size_t in_place = plane_decoded_in_place(planes);
    std::vector<std::unique_ptr<uint8_t[]>> decoded(width);
    std::vector<const uint8_t*> sources(width);  // what the join reads
    std::vector<uint8_t*> targets(width);         // where a coded plane decodes
    std::vector<DecodeTables> tables(width);
    for (size_t k = 0; k < width; ++k) {
        const PlaneSource& p = planes[k];
        if (!p.stream) {
            sources[k] = p.data;
            continue;
        }
        if (width == 1) {  // float8: the plane is the output
            targets[k] = out;
        } else if (k == in_place) {
            targets[k] = out + (width - 1) * count;
        } else {
            decoded[k].reset(new uint8_t[count]);  // not zeroed: the decoder fills it
            targets[k] = decoded[k].get();
        }
        sources[k] = targets[k];
        if (p.stream->mode == StreamMode::kHuffman)
            tables[k] = stream_tables(*p.stream);
        else
            decode_stream(*p.stream, p.data, p.size, targets[k]);  // single-symbol: a fill
    }
    const std::vector<DecodeTask> tasks = decode_tasks(planes, threads);
    parallel_for(tasks.size(), threads, [&](size_t i) {
        const DecodeTask& t = tasks[i];
        const PlaneSource& p = planes[t.plane];
        try {
            decode_substream_range(*p.stream, tables[t.plane], p.data, p.size, targets[t.plane], t.first, t.n);
        } catch (const LimitExceeded&) {
            throw;
        } catch (const CorruptStream& e) {
            throw CorruptStream("plane " + std::to_string(t.plane) + " stream: " + e.what());
        }
    });
    if (width == 1 && sources[0] == out) return;  // decoded in place
    join_all(sources, count, out, in_place < width, threads);
}

}  // namespace pycodec
