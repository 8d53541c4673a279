// The writer's choice for a tensor that no zstd frame can win, made natively where its
// statistics rule out every encoding but `planes` and `raw` (dense trained weights), and
// the planes coded in the same pass. It mirrors pycodec/format/choice.py and
// encodings.py (_raw_at_a_glance, statistics, needs_exact_sizing, Chosen.finish) step by
// step, with the same integer and floating-point operations in the same order, so that
// it picks what they pick; a tensor where any other encoding could win is left
// Undecided, for the Python choice. The thresholds come from the Python side (DenseRules).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace pycodec {

// The Python choice's thresholds (choice.py, encodings.py, zstd_frames.py).
struct DenseRules {
    uint64_t planes_min_numel = 0;   // encodings.PLANES_MIN_NUMEL
    uint64_t zstd_min_bytes = 0;     // zstd_frames.MIN_BYTES
    uint64_t sample = 0;             // choice.SAMPLE
    double distinct_gate = 0;        // choice.DISTINCT_GATE
    double table_bytes_per_symbol = 0;  // choice.TABLE_BYTES_PER_SYMBOL
    uint64_t count_from = 0;         // choice._COUNT_FROM
    uint64_t first_look = 0;         // choice.FIRST_LOOK
    double slack = 0;                // choice._SLACK
    uint64_t max_codebook_size = 0;  // limits.MAX_CODEBOOK_SIZE
    int max_code_length = 0;
    uint64_t repeat_sample = 0;      // zstd_frames.REPEAT_SAMPLE
    double repeat_gate = 0;          // zstd_frames.REPEAT_GATE
};

enum class DenseOutcome { Undecided, Raw, Planes };

struct DenseTensor {
    const uint8_t* bits = nullptr;  // `count` elements of `width` bytes (1, 2, 4 or 8)
    size_t count = 0;
    int width = 0;
    bool planes_ok = false;    // a floating dtype
    bool codebook_ok = false;  // the codebook family applies
    uint64_t header_bytes = 0;  // what `planes` adds to the header (encodings.planes_header_bytes)
    DenseOutcome outcome = DenseOutcome::Undecided;
    std::vector<uint64_t> stream_bytes;  // Planes: each plane's stream length, 0 = raw
    std::vector<uint8_t> section;        // Planes: the section, then the bit writer's 8 spill bytes
    size_t section_bytes = 0;
    uint32_t crc32 = 0;                  // Raw, Planes: the CRC-32 of the section (Raw: of the elements)
};

// zstd_frames.worth_probing: whether a zstd probe of `size` bytes may pay, from a look
// at about repeat_sample of its aligned 8-byte words where they are a float's.
bool worth_probing(const uint8_t* data, size_t size, bool floats, const DenseRules& rules);

// Decides (and codes) one tensor; its planes coded on up to `threads` threads.
void choose_dense(DenseTensor& tensor, const DenseRules& rules, int threads);

// Holds back choose_dense_all's extra workers until it is opened (the writer opens it once
// its helper thread is done with the tensors worth a zstd probe: till then one core is
// the helper's).
class WorkerGate {
public:
    void open();
    // Waits until opened (true) or until there is no work left to share (false).
    bool wait();
    void finish();
    bool opened();

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool opened_ = false, finished_ = false;
};

// Decides all of `tensors` on up to `threads` threads: those of `parallel_from_bytes` or
// more one at a time with every thread, then the rest a thread each, in the order given.
// With a `gate`, the threads past the caller's take part in the second step only once it
// opens.
void choose_dense_all(std::vector<DenseTensor>& tensors, const DenseRules& rules, int threads,
                      uint64_t parallel_from_bytes, WorkerGate* gate = nullptr);

}  // namespace pycodec
