// A minimal fork-join loop for the native core's threaded work (planes, stream halves).
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace pycodec {

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

}  // namespace pycodec
