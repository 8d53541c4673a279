#include "parallel.hpp"

#include <sys/types.h>
#include <unistd.h>

#include <condition_variable>
#include <exception>
#include <mutex>

namespace pycodec {

namespace {

// The kept threads and what they are asked to run. Never destroyed: its threads wait on it
// until the process ends, and a forked child (where they do not exist, and its locks may
// be held) makes a pool of its own instead of touching its parent's.
struct Pool {
    explicit Pool(pid_t owner) : pid(owner) {}
    const pid_t pid;
    std::mutex busy;  // one caller's work at a time
    std::mutex mutex;
    std::condition_variable wake, done;
    size_t threads = 0;
    const std::function<void(size_t)>* work = nullptr;
    uint64_t generation = 0;
    size_t wanted = 0;   // threads 0..wanted-1 run work(index + 1) in this generation
    size_t running = 0;  // of those, how many have not finished
};

std::atomic<Pool*> current{nullptr};

Pool* pool_of_this_process() {
    const pid_t pid = getpid();
    Pool* pool = current.load();
    if (pool != nullptr && pool->pid == pid) return pool;
    Pool* fresh = new Pool(pid);
    if (current.compare_exchange_strong(pool, fresh)) return fresh;  // the old one (a parent's) is left as it is
    delete fresh;  // another thread of this process made one first
    return pool->pid == pid ? pool : nullptr;
}

void serve(Pool* pool, size_t index) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(pool->mutex);
    for (;;) {
        pool->wake.wait(lock, [&] { return pool->generation != seen; });
        seen = pool->generation;
        if (index >= pool->wanted) continue;
        const std::function<void(size_t)>* work = pool->work;
        lock.unlock();
        (*work)(index + 1);
        lock.lock();
        if (--pool->running == 0) pool->done.notify_all();
    }
}

}  // namespace

bool run_on_kept_threads(size_t workers, const std::function<void(size_t)>& work, const std::function<void()>& mine) {
    Pool* pool = pool_of_this_process();
    if (pool == nullptr) return false;
    std::unique_lock<std::mutex> busy(pool->busy, std::try_to_lock);
    if (!busy.owns_lock()) return false;  // another caller's, or nested work: threads of its own
    {
        std::lock_guard<std::mutex> lock(pool->mutex);
        try {
            for (; pool->threads < workers - 1; ++pool->threads) std::thread(serve, pool, pool->threads).detach();
        } catch (const std::system_error&) {
            // no more threads: those kept and this one share the items
        }
        if (pool->threads == 0) return false;
        pool->work = &work;
        pool->wanted = std::min(workers - 1, pool->threads);
        pool->running = pool->wanted;
        ++pool->generation;
    }
    pool->wake.notify_all();
    std::exception_ptr failed;
    try {
        mine();
    } catch (...) {
        failed = std::current_exception();  // raised once the others no longer use `work`
    }
    std::unique_lock<std::mutex> lock(pool->mutex);
    pool->done.wait(lock, [&] { return pool->running == 0; });
    pool->work = nullptr;
    if (failed) std::rethrow_exception(failed);
    return true;
}

}  // namespace pycodec
