#include "planes.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <thread>

namespace pycodec {

namespace {

// Runs task(k) for k in 0..n-1 on up to `threads` threads (the caller's included); the
// first exception is rethrown once all have finished.
template <class Task>
void parallel_for(size_t n, int threads, const Task& task) {
    const size_t workers = std::min(n, static_cast<size_t>(std::max(threads, 1)));
    if (workers <= 1) {
        for (size_t k = 0; k < n; ++k) task(k);
        return;
    }
    std::vector<std::exception_ptr> errors(workers);
    auto run = [&](size_t w) {
        try {
            for (size_t k = w; k < n; k += workers) task(k);
        } catch (...) {
            errors[w] = std::current_exception();
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(workers - 1);
    for (size_t w = 1; w < workers; ++w) pool.emplace_back(run, w);
    run(0);
    for (std::thread& t : pool) t.join();
    for (const std::exception_ptr& e : errors)
        if (e) std::rethrow_exception(e);
}

template <int kWidth>
void split_plane(const uint8_t* elements, size_t count, int k, uint8_t* plane) {
    const uint8_t* src = elements + k;
    for (size_t i = 0; i < count; ++i) plane[i] = src[i * kWidth];
}

void split_plane(const uint8_t* elements, size_t count, int itemsize, int k, uint8_t* plane) {
    switch (itemsize) {
        case 1: std::memcpy(plane, elements, count); return;
        case 2: split_plane<2>(elements, count, k, plane); return;
        case 4: split_plane<4>(elements, count, k, plane); return;
        default: split_plane<8>(elements, count, k, plane); return;
    }
}

}  // namespace

PlanesPlan plan_planes(const uint8_t* elements, size_t count, int itemsize, unsigned coded_mask,
                       int max_code_length, int threads) {
    const size_t s = static_cast<size_t>(itemsize);
    PlanesPlan plan;
    plan.elements = elements;
    plan.count = count;
    plan.itemsize = itemsize;
    plan.planes.resize(s);
    plan.layouts.resize(s);
    plan.stream_bytes.assign(s, 0);
    parallel_for(s, threads, [&](size_t k) {
        if (!(coded_mask >> k & 1u)) return;
        plan.planes[k].reset(new uint8_t[count]);  // not zeroed: split_plane fills it
        split_plane(elements, count, itemsize, static_cast<int>(k), plan.planes[k].get());
        plan.layouts[k] = plan_stream(plan.planes[k].get(), count, max_code_length);
        if (plan.layouts[k].total_bytes < count) plan.stream_bytes[k] = plan.layouts[k].total_bytes;
    });
    plan.offsets.assign(s + 1, 0);
    for (size_t k = 0; k < s; ++k) plan.offsets[k + 1] = plan.offsets[k] + (plan.stream_bytes[k] ? plan.stream_bytes[k] : count);
    return plan;
}

namespace {

// Plane k stored raw: from its split copy when it was planned, else from the elements.
void write_raw_plane(const PlanesPlan& plan, size_t k, uint8_t* dst) {
    if (plan.planes[k])
        std::memcpy(dst, plan.planes[k].get(), plan.count);
    else
        split_plane(plan.elements, plan.count, plan.itemsize, static_cast<int>(k), dst);
}

}  // namespace

void write_planes(const PlanesPlan& plan, uint8_t* out, int threads) {
    const size_t s = plan.planes.size();
    const std::vector<size_t>& offsets = plan.offsets;
    if (threads <= 1) {  // in plane order, each spill is overwritten by the plane after it
        for (size_t k = 0; k < s; ++k) {
            if (plan.stream_bytes[k])
                write_stream(plan.layouts[k], plan.planes[k].get(), out + offsets[k]);
            else
                write_raw_plane(plan, k, out + offsets[k]);
        }
        return;
    }
    // A stream's bit writer may spill up to 8 bytes past its end: threads write the streams
    // into buffers of their own, copied into place afterwards.
    std::vector<std::unique_ptr<uint8_t[]>> streams(s);
    parallel_for(s, threads, [&](size_t k) {
        if (!plan.stream_bytes[k]) {
            write_raw_plane(plan, k, out + offsets[k]);
            return;
        }
        streams[k].reset(new uint8_t[plan.stream_bytes[k] + 8]);
        write_stream(plan.layouts[k], plan.planes[k].get(), streams[k].get());
    });
    for (size_t k = 0; k < s; ++k)
        if (plan.stream_bytes[k]) std::memcpy(out + offsets[k], streams[k].get(), plan.stream_bytes[k]);
}

namespace {

// Each element assembled in a register from its bytes (little-endian), then stored whole:
// the compiler vectorises this, where a byte-strided copy per plane would not.
template <class T, int kWidth>
void join_typed(const uint8_t* const* planes, size_t count, uint8_t* out) {
    for (size_t i = 0; i < count; ++i) {
        T element = 0;
        for (int k = 0; k < kWidth; ++k) element |= static_cast<T>(planes[k][i]) << (8 * k);
        for (int k = 0; k < kWidth; ++k) out[i * kWidth + k] = static_cast<uint8_t>(element >> (8 * k));
    }
}

}  // namespace

void join_planes(const uint8_t* const* planes, int width, size_t count, uint8_t* out) {
    switch (width) {
        case 1: std::memcpy(out, planes[0], count); return;
        case 2: join_typed<uint16_t, 2>(planes, count, out); return;
        case 4: join_typed<uint32_t, 4>(planes, count, out); return;
        default: join_typed<uint64_t, 8>(planes, count, out); return;
    }
}

}  // namespace pycodec
