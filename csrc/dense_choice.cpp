#include "dense_choice.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <limits>

#include "codebook_index.hpp"
#include "crc32.hpp"
#include "huffman_code.hpp"
#include "huffman_stream.hpp"
#include "parallel.hpp"
#include "planes.hpp"

namespace pycodec {

namespace {

template <class T>
uint64_t count_nonzero_typed(const uint8_t* bits, size_t n) {
    uint64_t nonzero = 0;
    for (size_t i = 0; i < n; ++i) {
        T v;
        std::memcpy(&v, bits + i * sizeof(T), sizeof(T));
        nonzero += v != 0;
    }
    return nonzero;
}

uint64_t count_nonzero(const uint8_t* bits, size_t n, int width) {
    switch (width) {
        case 1: return count_nonzero_typed<uint8_t>(bits, n);
        case 2: return count_nonzero_typed<uint16_t>(bits, n);
        case 4: return count_nonzero_typed<uint32_t>(bits, n);
        default: return count_nonzero_typed<uint64_t>(bits, n);
    }
}

// count_entropy's bits per occurrence (0 for fewer than two distinct).
double per_occurrence(const CountsEntropy& e) {
    return e.distinct > 1 ? e.bits / static_cast<double>(e.total) : 0.0;
}

// The codebook family's lower bound (choice._bound); false where it cannot apply.
bool codebook_bound(const DenseRules& rules, uint64_t distinct, uint64_t seen, double entropy, bool sampled,
                    uint64_t nnz, int width, double& bound) {
    if (distinct > rules.max_codebook_size) return false;
    if (sampled && seen >= rules.sample && static_cast<double>(distinct) > rules.distinct_gate * static_cast<double>(seen))
        return false;
    if (distinct <= 1) {
        bound = static_cast<double>(distinct * static_cast<uint64_t>(width));
        return true;
    }
    bound = static_cast<double>(distinct) * (width + rules.table_bytes_per_symbol) +
            static_cast<double>(nnz) * entropy / 8;
    return true;
}

// choice.values_bound of `n` contiguous elements (no limit on the distinct values).
bool values_bound(const DenseRules& rules, const void* values, size_t n, int width, bool sampled, uint64_t nnz,
                  double& bound) {
    std::vector<uint64_t> counts;
    value_counts(values, n, static_cast<size_t>(width), true, 0, counts);
    const CountsEntropy e = counts_entropy(counts.data(), counts.size());
    return codebook_bound(rules, e.distinct, e.total, per_occurrence(e), sampled, nnz, width, bound);
}

// What choice.Statistics holds, as far as the choice between planes and raw needs it.
struct Statistics {
    uint64_t nnz = 0;
    bool has_planes = false;
    std::vector<uint64_t> planes;  // each plane's planned stream, numel where raw
    bool has_bound = false;
    double bound = 0;
    std::vector<uint64_t> segment_counts;  // 1-byte elements: the planes encoder's counts
    bool counted = false;                  // 2-byte elements: every pattern counted, the counts of those used
    std::vector<uint64_t> pattern_counts;  // (ascending patterns) kept in pattern_counts
};

// choice.needs_exact_sizing; `planes_bytes` < 0: no planes candidate.
bool needs_exact_sizing(const DenseRules& rules, const Statistics& s, uint64_t numel, int width, bool has_planes,
                        uint64_t planes_bytes) {
    uint64_t best = numel * static_cast<uint64_t>(width);
    if (has_planes) best = std::min(best, planes_bytes);
    if (0 < s.nnz && s.nnz < numel && s.nnz * static_cast<uint64_t>(width) <= best) return true;
    return s.has_bound && s.bound <= static_cast<double>(best) + rules.slack;
}

// choice._pattern_statistics: one count over every 2-byte element's pattern.
Statistics pattern_statistics_of(const DenseTensor& t, const DenseRules& rules, bool planes_ok) {
    Statistics s;
    const PatternStatistics found = pattern_statistics(reinterpret_cast<const uint16_t*>(t.bits), t.count, &s.pattern_counts);
    s.counted = true;
    s.nnz = t.count - found.zeros;
    if (planes_ok) {
        uint64_t histograms[512];
        std::copy_n(found.low, 256, histograms);
        std::copy_n(found.high, 256, histograms + 256);
        s.planes = plan_plane_sizes(histograms, 2, 1.0, t.count, rules.max_code_length);
        s.has_planes = true;
    }
    if (t.codebook_ok)
        s.has_bound = codebook_bound(rules, found.nonzero.distinct, found.nonzero.total, per_occurrence(found.nonzero),
                                     false, s.nnz, 2, s.bound);
    return s;
}

// choice.statistics.
Statistics statistics(const DenseTensor& t, const DenseRules& rules, bool planes_ok) {
    const size_t n = t.count;
    const size_t width = static_cast<size_t>(t.width);
    if (width == 2 && n >= rules.count_from && (planes_ok || t.codebook_ok)) return pattern_statistics_of(t, rules, planes_ok);
    // choice.sample: every element, or every step-th of those of 4 or 8 bytes
    const bool sampled = width > 2 && n / rules.sample > 1;
    const size_t step = sampled ? n / rules.sample : 1;
    const size_t sample_size = (n - 1) / step + 1;
    Statistics s;
    std::vector<uint64_t> patterns;  // 1-byte elements: the counts of their 256 patterns
    if (width == 1 && (planes_ok || t.codebook_ok)) {
        patterns.assign(256, 0);
        if (planes_ok) {  // counted per segment, as the planes encoder takes them
            const size_t segments = static_cast<size_t>(encoder_segments(n));
            s.segment_counts.assign(segments * 256, 0);
            segment_histograms(t.bits, n, 1, s.segment_counts.data());
            for (size_t k = 0; k < segments * 256; ++k) patterns[k % 256] += s.segment_counts[k];
        } else {
            histogram_u8(t.bits, n, patterns.data());
        }
    }
    s.nnz = patterns.empty() ? count_nonzero(t.bits, n, t.width) : n - patterns[0];
    if (planes_ok) {
        std::vector<uint64_t> histograms(patterns);
        if (histograms.empty()) {
            histograms.assign(width * 256, 0);
            plane_histograms_strided(t.bits, sample_size, width, width * step, histograms.data());
        }
        const double scale = static_cast<double>(n) / static_cast<double>(sample_size);
        s.planes = plan_plane_sizes(histograms.data(), histograms.size() / 256, scale, n, rules.max_code_length);
        s.has_planes = true;
    }
    if (t.codebook_ok && !patterns.empty()) {
        const CountsEntropy e = counts_entropy(patterns.data() + 1, 255);
        s.has_bound = codebook_bound(rules, e.distinct, e.total, per_occurrence(e), sampled, s.nnz, t.width, s.bound);
    } else if (t.codebook_ok) {
        // choice.all_distinct_at_first_look of the sample, then its values' bound
        const size_t look_step = std::max<size_t>(1, sample_size / rules.first_look);
        if (!all_distinct(t.bits, (sample_size - 1) / look_step + 1, width, step * look_step)) {
            std::vector<uint8_t> picked(sample_size * width);
            for (size_t i = 0; i < sample_size; ++i) std::memcpy(&picked[i * width], t.bits + i * step * width, width);
            s.has_bound = values_bound(rules, picked.data(), sample_size, t.width, sampled, s.nnz, s.bound);
        }
    }
    return s;
}

// choice.sparse_family_bound: sparse and sparse_raw are never below it.
double sparse_family_bound(const DenseTensor& t, const Statistics& s) {
    const uint64_t zeros = t.count - s.nnz;
    if (s.nnz == 0 || zeros == 0) return std::numeric_limits<double>::infinity();
    const bool trailing = count_nonzero(t.bits, s.nnz, t.width) == s.nnz;
    const double gaps = zeros < s.nnz - 1 && !trailing ? static_cast<double>(s.nnz) / 8 : 0.0;
    double values = static_cast<double>(s.nnz * static_cast<uint64_t>(t.width));
    if (s.has_bound) values = std::min(values, s.bound);
    return values + gaps;
}

// The codebook candidate of 2-byte elements sized from their pattern counts
// (encodings._dense_codebook_from_counts); false where it cannot beat `beat` bytes.
bool counted_codebook_size(const Statistics& s, const DenseRules& rules, int width, uint64_t beat, uint64_t& size) {
    const uint64_t distinct = s.pattern_counts.size();
    if (distinct > rules.max_codebook_size) return false;
    const uint64_t book = distinct * static_cast<uint64_t>(width);
    if (book > beat) return false;  // encodings._index_size: nothing left for the indices
    uint64_t indices = 0;
    if (!plan_size_at_most(s.pattern_counts, distinct <= 256 ? 8 : 16, rules.max_code_length, beat - book, indices))
        return false;
    size = book + indices;
    return true;
}

// encodings._gated_candidates where the bounds call for exact sizing and every 2-byte
// pattern was counted: planes against the codebook sized from the counts, where the sparse
// family cannot win. Returns whether the planes (or raw) won; a codebook win is left to
// the Python choice, which makes it.
bool planes_beat_counted_codebook(const DenseTensor& t, const DenseRules& rules, const Statistics& s,
                                  uint64_t planned, bool& raw) {
    const uint64_t nbytes = static_cast<uint64_t>(t.count) * static_cast<uint64_t>(t.width);
    const uint64_t best = s.has_planes ? std::min(planned, nbytes) : nbytes;
    uint64_t book = 0;
    const bool has_book = counted_codebook_size(s, rules, t.width, best, book);
    if (!(sparse_family_bound(t, s) > static_cast<double>(has_book ? std::min(best, book) : best))) return false;
    if (has_book && (!s.has_planes || book <= planned)) {  // the smaller, "codebook" before "planes" on a tie
        raw = book >= nbytes;
        return raw;
    }
    raw = !s.has_planes || planned >= nbytes;
    return true;
}

// The tensor stored raw: its elements are the section.
void stored_raw(DenseTensor& t) {
    t.crc32 = crc32_update(0, t.bits, t.count * static_cast<size_t>(t.width));
    t.outcome = DenseOutcome::Raw;
}

// encodings._raw_at_a_glance: a tensor too small for planes and zstd, best raw.
bool raw_at_a_glance(const DenseTensor& t, const DenseRules& rules) {
    const uint64_t n = t.count;
    if (n >= rules.planes_min_numel || n * static_cast<uint64_t>(t.width) >= rules.zstd_min_bytes) return false;
    if (count_nonzero(t.bits, n, t.width) < n) return false;
    if (!t.codebook_ok || all_distinct(t.bits, n, static_cast<size_t>(t.width), 1)) return true;
    Statistics s;
    s.nnz = n;
    s.has_bound = values_bound(rules, t.bits, n, t.width, false, n, s.bound);
    return !needs_exact_sizing(rules, s, n, t.width, false, 0);
}

}  // namespace

bool worth_probing(const uint8_t* data, size_t size, bool floats, const DenseRules& rules) {
    if (size < rules.zstd_min_bytes) return false;
    if (!floats) return true;
    const size_t words = size / 8;
    if (words < 2) return false;
    const size_t step = std::max<size_t>(1, words / rules.repeat_sample);
    const size_t sampled = (words - 1) / step + 1;
    // choice.all_distinct_at_first_look: trained weights' words never repeat
    const size_t look = step * std::max<size_t>(1, sampled / rules.first_look);
    if (all_distinct(data, (words - 1) / look + 1, 8, look)) return false;
    std::vector<uint64_t> picked(sampled);
    for (size_t i = 0; i < sampled; ++i) std::memcpy(&picked[i], data + i * step * 8, 8);
    std::vector<uint64_t> counts;
    value_counts(picked.data(), sampled, 8, false, 0, counts);
    return static_cast<double>(counts.size()) < rules.repeat_gate * static_cast<double>(sampled);
}

void choose_dense(DenseTensor& t, const DenseRules& rules, int threads) {
    t.outcome = DenseOutcome::Undecided;
    const uint64_t nbytes = static_cast<uint64_t>(t.count) * static_cast<uint64_t>(t.width);
    if (t.count == 0 || raw_at_a_glance(t, rules)) {
        stored_raw(t);
        return;
    }
    const bool planes_ok = t.planes_ok && t.count >= rules.planes_min_numel;
    const Statistics s = statistics(t, rules, planes_ok);
    uint64_t planned = t.header_bytes;
    for (uint64_t size : s.planes) planned += size;
    bool raw = !s.has_planes || planned >= nbytes;
    if (needs_exact_sizing(rules, s, t.count, t.width, s.has_planes, planned) &&
        !(s.counted && t.codebook_ok && planes_beat_counted_codebook(t, rules, s, planned, raw)))
        return;
    if (raw) {
        stored_raw(t);
        return;
    }
    unsigned mask = 0;
    for (size_t k = 0; k < s.planes.size(); ++k)
        if (s.planes[k] < t.count) mask |= 1u << k;
    const PlanesPlan plan = plan_planes(t.bits, t.count, t.width, mask, rules.max_code_length, threads,
                                        s.segment_counts.empty() ? nullptr : s.segment_counts.data());
    if (plan.total_bytes() + t.header_bytes >= nbytes) {  // Chosen.finish: kept only if smaller than raw
        stored_raw(t);
        return;
    }
    t.section.resize(plan.total_bytes() + 8);
    write_planes(plan, t.section.data(), threads);
    t.section_bytes = plan.total_bytes();
    t.stream_bytes = plan.stream_bytes;
    t.crc32 = crc32_update(0, t.section.data(), t.section_bytes);
    t.outcome = DenseOutcome::Planes;
}

void WorkerGate::open() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        opened_ = true;
    }
    changed_.notify_all();
}

bool WorkerGate::wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return opened_ || finished_; });
    return opened_;
}

bool WorkerGate::opened() {
    std::lock_guard<std::mutex> lock(mutex_);
    return opened_;
}

void WorkerGate::finish() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        finished_ = true;
    }
    changed_.notify_all();
}

void choose_dense_all(std::vector<DenseTensor>& tensors, const DenseRules& rules, int threads,
                      uint64_t parallel_from_bytes, WorkerGate* gate) {
    std::vector<size_t> small;
    for (size_t i = 0; i < tensors.size(); ++i) {
        if (static_cast<uint64_t>(tensors[i].count) * static_cast<uint64_t>(tensors[i].width) >= parallel_from_bytes)
            choose_dense(tensors[i], rules, threads);
        else
            small.push_back(i);
    }
    const size_t workers = std::min(small.size(), static_cast<size_t>(std::max(threads, 1)));
    std::vector<std::exception_ptr> errors(std::max<size_t>(workers, 1));
    std::atomic<size_t> next{0};
    run_workers(workers, [&](size_t w) {
        if (w > 0 && gate != nullptr && !gate->wait()) return;  // the caller took every tensor meanwhile
        try {
            for (size_t k = next++; k < small.size(); k = next++) choose_dense(tensors[small[k]], rules, 1);
        } catch (...) {
            errors[w] = std::current_exception();
            next = small.size();  // the others stop at their next tensor
        }
        if (w == 0 && gate != nullptr) gate->finish();  // every tensor is taken: no one need wait
    });
    for (const std::exception_ptr& e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace pycodec
