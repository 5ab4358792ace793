// The machine's measured limits, against which bench/RESULTS.md reports kiln's speed: memory
// read bandwidth (what decode streams weights at), f32 multiply-add peak (prefill in f32) and
// 8-bit multiply-add peak (prefill on 8-bit activations), each with 1 .. N threads.
//
//   build/bench/machine-limits [--threads N] [--json] [--quick]
//
// --quick measures briefly (small arrays, few iterations): numbers to check the tool runs, not
// to report.
//
// A microbenchmark of the machine, not a kernel of kiln's: plain C++ loops (vector extensions
// for f32), and the x86 byte multiply-adds by their intrinsics where the CPU has them.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

// Sizes of the measurements; --quick shrinks them.
size_t g_read_bytes = size_t{256} << 20;  // per thread, far past any cache
int64_t g_iterations = 50'000'000;
int g_repeats = 3;

// Runs body(thread) on `threads` threads at once; returns the seconds the slowest took.
double timed(int threads, const std::function<void(int)>& body) {
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) pool.emplace_back(body, t);
  for (std::thread& t : pool) t.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The best of `repeats` runs, in units per second.
double best_rate(int repeats, double units, const std::function<double()>& run) {
  double best = 0;
  for (int r = 0; r < repeats; ++r) best = std::max(best, units / run());
  return best;
}

volatile uint64_t g_sink;

// Bytes per second read by `threads` threads, each summing an array of its own.
double read_bandwidth(int threads) {
  const size_t words = g_read_bytes / sizeof(uint64_t);
  std::vector<std::vector<uint64_t>> data(threads, std::vector<uint64_t>(words, 1));
  return best_rate(g_repeats, static_cast<double>(threads) * words * sizeof(uint64_t), [&] {
    return timed(threads, [&](int t) {
      const uint64_t* p = data[t].data();
      uint64_t a = 0, b = 0, c = 0, d = 0;
      for (size_t i = 0; i < words; i += 4) {
        a += p[i];
        b += p[i + 1];
        c += p[i + 2];
        d += p[i + 3];
      }
      g_sink = a + b + c + d;
    });
  });
}

#if defined(__AVX512F__)
constexpr int kBytes = 64;
#else
constexpr int kBytes = 32;
#endif
typedef float FloatVec __attribute__((vector_size(kBytes)));
constexpr int kFloatLanes = kBytes / 4;

// f32 multiply-adds per second (2 FLOPs each): 12 independent chains per thread, in registers.
double f32_fma_peak(int threads) {
  const int64_t iterations = g_iterations;
  return best_rate(g_repeats, 2.0 * threads * iterations * 12 * kFloatLanes, [&] {
    return timed(threads, [&](int) {
      FloatVec acc[12];
      FloatVec x, y;
      for (int l = 0; l < kFloatLanes; ++l) {
        x[l] = 0.999f;
        y[l] = 1e-7f;
      }
      for (FloatVec& a : acc) a = y;
      for (int64_t i = 0; i < iterations; ++i) {
        for (FloatVec& a : acc) a = a * x + y;
      }
      float sum = 0;
      for (const FloatVec& a : acc) sum += a[0];
      g_sink = static_cast<uint64_t>(sum);
    });
  });
}

#if defined(__AVX2__)

// Byte multiply-adds per second (2 ops each) with the widest 256-bit instruction the CPU has:
// vpdpbusd (VNNI), else pmaddubsw + pmaddwd.
double int8_peak(int threads, const char** how) {
  const int64_t iterations = g_iterations;
#if defined(__AVXVNNI__) || (defined(__AVX512VNNI__) && defined(__AVX512VL__))
  *how = "vpdpbusd (256-bit)";
#else
  *how = "pmaddubsw + pmaddwd (256-bit)";
#endif
  return best_rate(g_repeats, 2.0 * threads * iterations * 8 * 32, [&] {
    return timed(threads, [&](int) {
      // Eight independent chains, each on operands of its own (the same operands would let the
      // compiler share one product among them).
      __m256i a[8], acc[8];
      const __m256i b = _mm256_set1_epi8(-2);
      for (int k = 0; k < 8; ++k) {
        a[k] = _mm256_set1_epi8(static_cast<char>(3 + k));
        acc[k] = _mm256_setzero_si256();
      }
#if !(defined(__AVX512VNNI__) && defined(__AVX512VL__)) && !defined(__AVXVNNI__)
      const __m256i ones = _mm256_set1_epi16(1);
#endif
      for (int64_t i = 0; i < iterations; ++i) {
        for (int k = 0; k < 8; ++k) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
          acc[k] = _mm256_dpbusd_epi32(acc[k], a[k], b);
#elif defined(__AVXVNNI__)
          acc[k] = _mm256_dpbusd_avx_epi32(acc[k], a[k], b);
#else
          acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(_mm256_maddubs_epi16(a[k], b), ones));
#endif
          asm volatile("" : "+x"(a[k]));
        }
      }
      int sum = 0;
      for (const __m256i& c : acc) sum += _mm256_extract_epi32(c, 0);
      g_sink = static_cast<uint64_t>(sum);
    });
  });
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int max_threads = static_cast<int>(std::thread::hardware_concurrency());
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) {
      max_threads = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "--quick") {
      g_read_bytes = size_t{16} << 20;
      g_iterations = 1'000'000;
      g_repeats = 1;
    } else {
      std::fprintf(stderr, "usage: machine-limits [--threads N] [--json] [--quick]\n");
      return arg == "--help" || arg == "-h" ? 0 : 1;
    }
  }
  if (!json) std::printf("| threads | read GB/s | f32 GFLOP/s (%d-bit FMA) | int8 GOP/s |\n|---|---|---|---|\n", kBytes * 8);
  if (json) std::printf("[");
  for (int threads = 1; threads <= max_threads; ++threads) {
    const double bandwidth = read_bandwidth(threads) / 1e9;
    const double flops = f32_fma_peak(threads) / 1e9;
    double int8 = 0;
    const char* how = "none (no AVX2)";
#if defined(__AVX2__)
    int8 = int8_peak(threads, &how) / 1e9;
#endif
    if (json) {
      std::printf("%s{\"threads\": %d, \"read_gb_s\": %.2f, \"f32_gflop_s\": %.1f, \"int8_gop_s\": %.1f, \"int8_by\": \"%s\"}",
                  threads > 1 ? ", " : "", threads, bandwidth, flops, int8, how);
    } else {
      std::printf("| %d | %.1f | %.0f | %.0f (%s) |\n", threads, bandwidth, flops, int8, how);
    }
  }
  if (json) std::printf("]\n");
  return 0;
}
