// A file's sections read, checksummed and decoded together on native threads (the
// reader's read_all): nothing in between takes the GIL, where Python threads decoding
// tensors one at a time had to win it back after every native call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pycodec {

// Where the sections are: an open file (read with pread), or bytes in memory.
struct SectionSource {
    int fd = -1;
    const uint8_t* data = nullptr;  // when fd < 0
    size_t size = 0;
};

// One section to read at `offset` and check against `crc32`. With `plane_streams` (one
// entry per byte of the element, 0 = a raw plane: spec/dcz.md 5.7) it is a planes section
// of `count` elements, decoded and joined into `out` (count * plane_streams.size() bytes);
// without, its bytes are copied to `out` (`length` bytes) as they are.
struct SectionJob {
    uint64_t offset = 0;
    uint64_t length = 0;
    uint32_t crc32 = 0;
    std::vector<uint64_t> plane_streams;
    uint64_t count = 0;
    uint8_t* out = nullptr;
};

// Runs the jobs on up to `threads` threads, each taking the next job in order as it
// finishes one (give the largest first). Returns, per job, why it failed ("" where it did
// not): a short read, a checksum mismatch, a malformed or corrupt stream.
std::vector<std::string> read_sections(const SectionSource& source, const std::vector<SectionJob>& jobs, int threads);

}  // namespace pycodec
