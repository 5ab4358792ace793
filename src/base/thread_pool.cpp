#include "base/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kiln {

namespace {

// Rounds of spinning before a thread sleeps on a futex. Long enough to catch the next kernel
// of a decode step (a few microseconds apart), short enough not to steal a shared core.
constexpr int kSpinRounds = 2000;

// Chunks per thread: more balances uneven work, fewer costs fewer atomic increments.
constexpr int64_t kChunksPerThread = 4;

thread_local ThreadPool* t_current_pool = nullptr;
// True while this thread runs a chunk of some pool's job: nested loops then run serially.
thread_local bool t_in_parallel_region = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Waits until `value` differs from `old`: spins, then sleeps.
template <typename T>
T wait_for_change(const std::atomic<T>& value, T old) {
  for (int round = 0; round < kSpinRounds; ++round) {
    const T now = value.load(std::memory_order_acquire);
    if (now != old) return now;
    cpu_relax();
  }
  for (;;) {
    value.wait(old, std::memory_order_acquire);
    const T now = value.load(std::memory_order_acquire);
    if (now != old) return now;
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(threads, 1);
  chunks_run_ = std::make_unique<ChunkCount[]>(static_cast<size_t>(threads));
  workers_.reserve(static_cast<size_t>(threads - 1));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stopping_.store(true, std::memory_order_seq_cst);
  state_.fetch_add(2, std::memory_order_seq_cst);  // a change every worker wakes for
  state_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  Job job;
  job.run_chunk = [](const Job& j, int64_t begin, int64_t end) {
    (*static_cast<const std::function<void(int64_t, int64_t)>*>(j.fn))(begin, end);
  };
  job.fn = &fn;
  job.n = n;
  run(job);
}

void ThreadPool::parallel_for_each(int64_t n, void (*task)(void*, int64_t), void* closure) {
  Job job;
  job.run_chunk = [](const Job& j, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) j.task(j.closure, i);
  };
  job.task = task;
  job.closure = closure;
  job.n = n;
  run(job);
}

// The caller waits for the work to be done, not for every worker to have come: on a busy
// machine a worker that was not scheduled in time finds the job over and goes back to sleep.
void ThreadPool::run(Job& job) {
  if (job.n <= 0) return;
  if (workers_.empty() || job.n == 1 || t_in_parallel_region) {
    job.run_chunk(job, 0, job.n);
    return;
  }
  std::lock_guard<std::mutex> lock(submit_mutex_);
  job.chunk = std::max<int64_t>(1, job.n / (size() * kChunksPerThread));
  job_ = &job;
  const uint32_t running = (++jobs_started_ << 1) | 1u;
  state_.store(running, std::memory_order_seq_cst);
  state_.notify_all();

  work_on(job, 0);
  for (int64_t done = job.done.load(std::memory_order_acquire); done != job.n;) {
    done = wait_for_change(job.done, done);
  }
  state_.store(running & ~1u, std::memory_order_seq_cst);
  // Workers that entered before the store above may still be leaving work_on.
  for (int busy = busy_.load(std::memory_order_seq_cst); busy != 0;) busy = wait_for_change(busy_, busy);
  job_ = nullptr;
  if (job.error) std::rethrow_exception(job.error);
}

void ThreadPool::work_on(Job& job, int thread_index) {
  const bool was_in_region = t_in_parallel_region;
  t_in_parallel_region = true;
  for (;;) {
    const int64_t begin = job.next.fetch_add(job.chunk, std::memory_order_relaxed);
    if (begin >= job.n) break;
    const int64_t end = std::min(begin + job.chunk, job.n);
    if (!job.failed.load(std::memory_order_relaxed)) {
      try {
        job.run_chunk(job, begin, end);
      } catch (...) {
        bool expected = false;
        if (job.failed.compare_exchange_strong(expected, true)) job.error = std::current_exception();
      }
    }
    chunks_run_[thread_index].value.fetch_add(1, std::memory_order_relaxed);
    if (job.done.fetch_add(end - begin, std::memory_order_acq_rel) + (end - begin) == job.n) job.done.notify_all();
  }
  t_in_parallel_region = was_in_region;
}

void ThreadPool::worker_loop(int thread_index) {
  uint32_t seen = 0;
  for (;;) {
    seen = wait_for_change(state_, seen);
    if (stopping_.load(std::memory_order_seq_cst)) return;
    if ((seen & 1u) == 0) continue;  // a job that is already over
    // Enter, then check the job is still the one seen: either the caller sees busy_ > 0 and
    // waits, or this thread sees the job over and never touches it.
    busy_.fetch_add(1, std::memory_order_seq_cst);
    if (state_.load(std::memory_order_seq_cst) == seen) work_on(*job_, thread_index);
    if (busy_.fetch_sub(1, std::memory_order_seq_cst) == 1) busy_.notify_all();
  }
}

std::vector<int64_t> ThreadPool::chunks_run() const {
  std::vector<int64_t> counts(static_cast<size_t>(size()));
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = chunks_run_[i].value.load(std::memory_order_relaxed);
  return counts;
}

ThreadPool* current_thread_pool() { return t_current_pool; }

ScopedCurrentThreadPool::ScopedCurrentThreadPool(ThreadPool* pool) : previous_(t_current_pool) {
  t_current_pool = pool;
}

ScopedCurrentThreadPool::~ScopedCurrentThreadPool() { t_current_pool = previous_; }

}  // namespace kiln

extern "C" void kiln_parallel_for(void (*task)(void* closure, int64_t i), void* closure, int64_t n) {
  if (kiln::ThreadPool* pool = kiln::t_current_pool) {
    pool->parallel_for_each(n, task, closure);
  } else {
    for (int64_t i = 0; i < n; ++i) task(closure, i);
  }
}
