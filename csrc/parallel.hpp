// A minimal fork-join loop for the native core's threaded work (planes, stream halves,
// a file's sections, the writer's choice), on threads kept between calls.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <system_error>
#include <thread>
#include <vector>

namespace pycodec {

// Runs work(w) for w in 1..workers-1 on threads kept for the process's life (started on
// first use, again in a forked child) and returns once all have; false, running nothing,
// where they are busy with another caller's work (or the system refuses every thread).
// `work` must not throw. Kept threads cost nothing to start, and the tables they keep in
// thread-local storage (the writer's statistics) stay allocated between calls: a save of
// a small model spent about as long starting a thread and faulting in its tables as coding.
bool run_on_kept_threads(size_t workers, const std::function<void(size_t)>& work, const std::function<void()>& mine);

// Runs work(w) for w in 0..workers-1, w = 0 on the calling thread, the others on kept
// threads (run_on_kept_threads) or, where those are busy, on threads of their own, and
// returns once all have. Where the system refuses a thread, fewer run: `work` must take
// its items from a shared counter, not from `w`, and must not throw.
template <class Work>
void run_workers(size_t workers, const Work& work) {
    if (workers > 1 && run_on_kept_threads(workers, std::function<void(size_t)>(std::cref(work)), [&] { work(size_t{0}); }))
        return;
    std::vector<std::thread> pool;
    pool.reserve(workers > 0 ? workers - 1 : 0);
    try {
        for (size_t w = 1; w < workers; ++w) pool.emplace_back(work, w);
    } catch (const std::system_error&) {
        // no more threads: those started and this one share the items
    }
    work(size_t{0});
    for (std::thread& t : pool) t.join();
}

// Runs task(k) for k in 0..n-1 on up to `threads` threads (the caller's included), each
// taking the next k as it finishes one; the first exception is rethrown once all have
// finished.
template <class Task>
void parallel_for(size_t n, int threads, const Task& task) {
    const size_t workers = std::min(n, static_cast<size_t>(std::max(threads, 1)));
    if (workers <= 1) {
        for (size_t k = 0; k < n; ++k) task(k);
        return;
    }
    std::vector<std::exception_ptr> errors(workers);
    std::atomic<size_t> next{0};
    run_workers(workers, [&](size_t w) {
        try {
            for (size_t k = next++; k < n; k = next++) task(k);
        } catch (...) {
            errors[w] = std::current_exception();
        }
    });
    for (const std::exception_ptr& e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace pycodec
