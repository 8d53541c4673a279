#include "sections.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>

#include "common.hpp"
#include "crc32.hpp"
#include "huffman_stream.hpp"
#include "parallel.hpp"
#include "planes.hpp"

namespace pycodec {

namespace {

// A buffer reused by one thread for the planes sections it reads: its pages are faulted
// in once, not for every section (on a VM, fresh pages cost about as much as decoding).
class Scratch {
public:
    uint8_t* take(size_t n) {
        if (n > size_) {
            data_.reset(new uint8_t[n]);  // not zeroed: pread fills it
            size_ = n;
        }
        return data_.get();
    }

private:
    std::unique_ptr<uint8_t[]> data_;
    size_t size_ = 0;
};

void read_exactly(int fd, uint64_t offset, uint8_t* into, uint64_t length) {
    uint64_t got = 0;
    while (got < length) {
        const ssize_t step = ::pread(fd, into + got, static_cast<size_t>(length - got), static_cast<off_t>(offset + got));
        if (step < 0 && errno == EINTR) continue;
        if (step < 0) throw CorruptStream(std::string("read failed: ") + std::strerror(errno));
        if (step == 0)
            throw CorruptStream("file shrank while reading: " + std::to_string(got) + " of " + std::to_string(length) +
                                " bytes at " + std::to_string(offset));
        got += static_cast<uint64_t>(step);
    }
}

// The section's bytes: read into `into` from a file, or where they lie in memory.
const uint8_t* section_bytes(const SectionSource& source, const SectionJob& job, uint8_t* into) {
    if (source.fd < 0) {
        if (job.offset > source.size || job.length > source.size - job.offset)
            throw CorruptStream("section runs past the end of the data");
        return source.data + job.offset;
    }
    read_exactly(source.fd, job.offset, into, job.length);
    return into;
}

// Each plane of a planes section (spec/dcz.md 5.7): its stream parsed and checked to hold
// `count` 8-bit symbols (R28), or its `count` raw bytes.
std::vector<PlaneSource> split_planes(const SectionJob& job, const uint8_t* section, std::vector<StreamLayout>& layouts) {
    std::vector<PlaneSource> planes(job.plane_streams.size());
    layouts.resize(planes.size());
    uint64_t start = 0;
    for (size_t k = 0; k < planes.size(); ++k) {
        const uint64_t length = job.plane_streams[k] ? job.plane_streams[k] : job.count;
        if (length > job.length - start) throw CorruptStream("plane " + std::to_string(k) + " runs past the planes section");
        planes[k].data = section + start;
        planes[k].size = static_cast<size_t>(length);
        if (job.plane_streams[k]) {
            layouts[k] = parse_stream(planes[k].data, planes[k].size, job.count);
            if (layouts[k].symbol_bits != 8 || layouts[k].count != job.count)
                throw CorruptStream("plane " + std::to_string(k) + " stream is not one of count 8-bit symbols");
            planes[k].stream = &layouts[k];
        }
        start += length;
    }
    if (start != job.length) throw CorruptStream("the planes do not fill the planes section");
    return planes;
}

void run_job(const SectionSource& source, const SectionJob& job, Scratch& scratch) {
    const bool raw = job.plane_streams.empty();
    // a raw section read from a file goes straight to its output
    uint8_t* into = raw ? job.out : (source.fd < 0 ? nullptr : scratch.take(static_cast<size_t>(job.length)));
    const uint8_t* section = section_bytes(source, job, into);
    if (crc32_update(0, section, static_cast<size_t>(job.length)) != job.crc32) throw CorruptStream("checksum mismatch");
    if (raw) {
        if (section != job.out) std::memcpy(job.out, section, static_cast<size_t>(job.length));
        return;
    }
    std::vector<StreamLayout> layouts;
    decode_planes(split_planes(job, section, layouts), static_cast<size_t>(job.count), job.out, 1);
}

}  // namespace

std::vector<std::string> read_sections(const SectionSource& source, const std::vector<SectionJob>& jobs, int threads) {
    std::vector<std::string> errors(jobs.size());
    std::atomic<size_t> next{0};
    // parallel_for's loop, with a scratch buffer per thread and every job's failure kept
    run_workers(std::min(jobs.size(), static_cast<size_t>(std::max(threads, 1))), [&](size_t) {
        Scratch scratch;
        for (size_t k = next++; k < jobs.size(); k = next++) {
            try {
                run_job(source, jobs[k], scratch);
            } catch (const std::exception& e) {
                errors[k] = e.what()[0] ? e.what() : "failed";
            } catch (...) {
                errors[k] = "failed";
            }
        }
    });
    return errors;
}

}  // namespace pycodec
