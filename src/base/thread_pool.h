// A small thread pool for data-parallel loops, with low overhead per parallel_for: workers spin
// briefly before sleeping, so back-to-back kernels do not pay a wake-up each.
//
// JIT-compiled kernels reach the pool through the C entry `kiln_parallel_for`, which runs on
// the pool made current on the calling thread (the CPU device does this around each launch).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {

class ThreadPool {
 public:
  // `threads` counts the caller, which always works too: threads - 1 workers are started.
  // 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n), on every thread of the pool, and
  // returns when all have run. The first exception thrown by fn is rethrown here. Called from
  // inside a parallel_for of any pool (nested parallelism) it runs serially on the caller.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

  // Calls task(closure, i) for every i in [0, n); same rules as parallel_for. No exceptions may
  // escape `task` (it is compiled code).
  void parallel_for_each(int64_t n, void (*task)(void* closure, int64_t i), void* closure);

  // How many chunks each thread has run, over the loops the pool split among its threads (a
  // loop run serially counts nothing): [0] the threads that called parallel_for, [w] worker w.
  // Lets a test see that work reached the workers.
  std::vector<int64_t> chunks_run() const;

 private:
  // One parallel_for in flight: threads take chunks [next, next + chunk) until none are left.
  // It lives on the caller's stack; a worker touches it only between entering (busy_) and
  // seeing that state_ still names it, and the caller returns only once busy_ is 0.
  struct Job {
    void (*run_chunk)(const Job& job, int64_t begin, int64_t end) = nullptr;
    const void* fn = nullptr;                // parallel_for: the std::function
    void (*task)(void*, int64_t) = nullptr;  // parallel_for_each: the task and its closure
    void* closure = nullptr;
    int64_t n = 0;
    int64_t chunk = 1;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};  // indices finished (or skipped after a failure)
    std::atomic<bool> failed{false};
    std::exception_ptr error;  // written once, by whoever set `failed`
  };

  void run(Job& job);
  void work_on(Job& job, int thread_index);
  void worker_loop(int thread_index);

  // One counter per thread, each on a cache line of its own.
  struct alignas(64) ChunkCount {
    std::atomic<int64_t> value{0};
  };

  std::unique_ptr<ChunkCount[]> chunks_run_;
  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;  // one job at a time per pool
  Job* job_ = nullptr;
  // (job number << 1) | 1 while that job runs; the low bit clears when its work is done.
  // 32 bits, so waiting on it is a futex.
  std::atomic<uint32_t> state_{0};
  uint32_t jobs_started_ = 0;
  std::atomic<int> busy_{0};  // workers that entered the current job
  std::atomic<bool> stopping_{false};
};

// The pool that `kiln_parallel_for` uses on this thread; null runs loops serially.
ThreadPool* current_thread_pool();

// Makes `pool` current on this thread for the lifetime of the object.
class ScopedCurrentThreadPool {
 public:
  explicit ScopedCurrentThreadPool(ThreadPool* pool);
  ~ScopedCurrentThreadPool();
  ScopedCurrentThreadPool(const ScopedCurrentThreadPool&) = delete;
  ScopedCurrentThreadPool& operator=(const ScopedCurrentThreadPool&) = delete;

 private:
  ThreadPool* previous_;
};

}  // namespace kiln

// Runs task(closure, i) for i in [0, n) on the current thread pool (serially without one).
// Called by JIT-compiled kernels for parallel loops.
extern "C" void kiln_parallel_for(void (*task)(void* closure, int64_t i), void* closure, int64_t n);
