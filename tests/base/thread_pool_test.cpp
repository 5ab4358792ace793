// The thread pool: every index exactly once, errors carried back, nesting, the C entry point.
#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

namespace kiln {
namespace {

TEST(ThreadPool, EveryIndexExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 7, 1000, 100003}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, [&](int64_t begin, int64_t end) {
        ASSERT_LE(0, begin);
        ASSERT_LT(begin, end);
        ASSERT_LE(end, n);
        for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n " << n << " i " << i;
    }
  }
}

TEST(ThreadPool, ManySmallJobsBackToBack) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int job = 0; job < 20000; ++job) {
    pool.parallel_for(5, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) sum.fetch_add(i);
    });
  }
  EXPECT_EQ(sum.load(), 20000 * 10);
}

TEST(ThreadPool, ExceptionReachesTheCallerAndThePoolGoesOn) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(100, [](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (i == 42) throw std::runtime_error("42");
    }
  }), std::runtime_error);
  std::atomic<int> count{0};
  pool.parallel_for(100, [&](int64_t begin, int64_t end) { count += static_cast<int>(end - begin); });
  EXPECT_EQ(count.load(), 100);
}

TEST(ThreadPool, NestedLoopsRunSeriallyInside) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(50 * 30);
  pool.parallel_for(50, [&](int64_t outer_begin, int64_t outer_end) {
    for (int64_t r = outer_begin; r < outer_end; ++r) {
      pool.parallel_for(30, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) hits[static_cast<size_t>(r * 30 + c)].fetch_add(1);
      });
    }
  });
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

void record_thread(void* closure, int64_t i) {
  auto* ids = static_cast<std::vector<std::thread::id>*>(closure);
  (*ids)[static_cast<size_t>(i)] = std::this_thread::get_id();
}

TEST(ThreadPool, CEntryIsSerialWithoutACurrentPool) {
  ASSERT_EQ(current_thread_pool(), nullptr);
  std::vector<std::thread::id> ids(64);
  kiln_parallel_for(record_thread, &ids, 64);
  for (const auto& id : ids) EXPECT_EQ(id, std::this_thread::get_id());
}

TEST(ThreadPool, CEntryUsesTheCurrentPool) {
  ThreadPool pool(3);
  std::vector<std::thread::id> ids(10000);
  {
    ScopedCurrentThreadPool current(&pool);
    EXPECT_EQ(current_thread_pool(), &pool);
    kiln_parallel_for(record_thread, &ids, static_cast<int64_t>(ids.size()));
  }
  EXPECT_EQ(current_thread_pool(), nullptr);
  for (const auto& id : ids) ASSERT_NE(id, std::thread::id());
}

}  // namespace
}  // namespace kiln
