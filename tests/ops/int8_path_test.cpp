// The 8-bit activation path on the CPU against float64, on fresh random inputs (the seed is
// printed; KILN_TEST_SEED replays it): quantize_q8 round-trips within half a step of its
// scale, and matmul_int8 of every format it takes matches the float64 product of the same
// quantized values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "base/dequantize.h"
#include "base/error.h"
#include "base/row_interleave.h"
#include "base/target.h"
#include "compiler/op_runner.h"
#include "compiler/pipeline.h"
#include "kernel/compute/dequant_expr.h"
#include "kernel/compute/ops.h"
#include "ops/op_cases.h"
#include "runtime/device.h"

namespace kiln::test {
namespace {

namespace ops = kernel::ops;

uint64_t test_seed() {
  static const uint64_t seed = []() -> uint64_t {
    const char* s = std::getenv("KILN_TEST_SEED");
    const uint64_t value = s ? std::strtoull(s, nullptr, 10) : static_cast<uint64_t>(std::random_device{}());
    std::printf("[ int8     ] seed %llu (KILN_TEST_SEED replays it)\n", static_cast<unsigned long long>(value));
    return value;
  }();
  return seed;
}

// Runs `def` on the CPU with `inputs` (bytes by name) and returns the bytes of output `out`.
// `target` shapes the schedule (the code is for the host).
std::vector<uint8_t> run_cpu(const kernel::ComputeDef& def, const std::map<std::string, std::vector<uint8_t>>& inputs,
                             const std::string& out, size_t out_bytes, const std::map<std::string, int64_t>& sizes,
                             const Target& target = host_cpu_target()) {
  std::unique_ptr<runtime::Device> device = runtime::open_device("cpu", 2);
  compiler::CompileOptions options;
  options.target = target;
  const compiler::CompiledOp op = compiler::compile(def, options);
  compiler::OpRunner runner(*device, op);
  std::map<std::string, runtime::Buffer> buffers;
  std::map<std::string, runtime::Buffer*> bound;
  for (const auto& [name, bytes] : inputs) {
    buffers[name] = device->allocate(bytes.size());
    device->write(buffers[name], bytes.data(), bytes.size());
    bound[name] = &buffers[name];
  }
  buffers[out] = device->allocate(out_bytes);
  bound[out] = &buffers[out];
  runner.run(bound, sizes);
  std::vector<uint8_t> got(out_bytes);
  device->read(got.data(), buffers[out], out_bytes);
  for (auto& [name, b] : buffers) device->release(b);
  return got;
}

// Group `b` of row `i` of xq: its 32 signed bytes and its scale.
struct Group {
  int8_t q[32];
  float scale;
  float scaled_sum;  // scale times the sum of q
  float scaled_half_sums[2];  // scale times the sum of each half of q
};
Group group_of(const std::vector<uint8_t>& xq, int64_t groups, int64_t i, int64_t b) {
  Group g;
  const uint8_t* words = xq.data() + ((i * groups + b) * ops::kQ8Words) * 4;
  std::memcpy(g.q, words, 32);
  std::memcpy(&g.scale, words + ops::kQ8ScaleWord * 4, 4);
  std::memcpy(&g.scaled_sum, words + ops::kQ8SumWord * 4, 4);
  std::memcpy(g.scaled_half_sums, words + ops::kQ8HalfSumWord * 4, 8);
  return g;
}
void put_group(std::vector<uint8_t>& xq, int64_t groups, int64_t i, int64_t b, const Group& g) {
  uint8_t* words = xq.data() + ((i * groups + b) * ops::kQ8Words) * 4;
  std::memcpy(words, g.q, 32);
  std::memcpy(words + ops::kQ8ScaleWord * 4, &g.scale, 4);
  std::memcpy(words + ops::kQ8SumWord * 4, &g.scaled_sum, 4);
  std::memcpy(words + ops::kQ8HalfSumWord * 4, g.scaled_half_sums, 8);
}

TEST(Int8Path, QuantizedActivationsRoundTripWithinHalfAStep) {
  Rng rng(test_seed());
  for (const auto& [m, k] : std::vector<std::pair<int64_t, int64_t>>{{1, 32}, {3, 576}, {5, 1536}}) {
    HostTensor x = random_tensor("x", DType::f32, {m, k}, rng, -3, 3);
    // A group of zeros has scale 0 and quantizes to zeros.
    std::memset(x.bytes.data(), 0, 32 * sizeof(float));
    std::fill(x.values.begin(), x.values.begin() + 32, 0.0);
    const int64_t groups = k / 32;
    const std::vector<uint8_t> xq =
        run_cpu(ops::quantize_activations(), {{"x", x.bytes}}, "xq", m * groups * ops::kQ8Words * 4, {{"m", m}, {"k", k}});
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t b = 0; b < groups; ++b) {
        const Group g = group_of(xq, groups, i, b);
        double amax = 0;
        for (int t = 0; t < 32; ++t) amax = std::max(amax, std::fabs(x.values[i * k + b * 32 + t]));
        // The scale is amax / 127 in f32; every value within half a step of its byte (plus the
        // f32 rounding of x * 127 / amax, a few ulps of 127).
        ASSERT_NEAR(g.scale, amax / 127, amax / 127 * 1e-6) << "row " << i << " group " << b;
        int32_t sum = 0;
        for (int8_t q : g.q) sum += q;
        // One f32 product of the scale and an exact integer sum; the same for each half.
        ASSERT_NEAR(g.scaled_sum, g.scale * static_cast<double>(sum), std::fabs(g.scale * sum) * 1e-7 + 1e-30)
            << "row " << i << " group " << b;
        for (int half = 0; half < 2; ++half) {
          int32_t half_sum = 0;
          for (int t = 0; t < 16; ++t) half_sum += g.q[half * 16 + t];
          ASSERT_NEAR(g.scaled_half_sums[half], g.scale * static_cast<double>(half_sum),
                      std::fabs(g.scale * half_sum) * 1e-7 + 1e-30)
              << "row " << i << " group " << b << " half " << half;
        }
        for (int t = 0; t < 32; ++t) {
          const double v = x.values[i * k + b * 32 + t];
          ASSERT_GE(g.q[t], -127);
          ASSERT_NEAR(g.q[t] * static_cast<double>(g.scale), v, g.scale * (0.5 + 1e-4) + 1e-30)
              << "row " << i << " group " << b << " element " << t;
        }
      }
    }
  }
}

// Checks matmul_int8(w, interleave) on random activations against float64, for every
// format it takes and each shape (m, n, k); n a multiple of `interleave`.
void check_int8_matmul(Rng& rng, const Target& target, int64_t interleave,
                       const std::vector<std::tuple<int64_t, int64_t, int64_t>>& shapes) {
  for (const DType w : weight_dtypes()) {
    if (!kernel::can_pack_quads(w)) continue;
    const int64_t block = dtype_info(w).block_size;
    for (auto [m, n, k] : shapes) {
      k = (k + block - 1) / block * block;
      SCOPED_TRACE(fmt::format("{} m={} n={} k={} vector_bits={} interleave={}", dtype_name(w), m, n, k,
                               target.vector_bits, interleave));
      const HostTensor weight = random_tensor("w", w, {n, k}, rng);
      const std::vector<uint8_t> stored =
          interleave == 1 ? weight.bytes : interleave_rows(w, weight.bytes, n, k, interleave);
      // Activations as quantize_q8 writes them: bytes in [-127, 127], a positive f32 scale.
      const int64_t groups = k / 32;
      std::vector<uint8_t> xq(m * groups * ops::kQ8Words * 4);
      std::vector<double> x(m * k);
      std::uniform_int_distribution<int> byte(-127, 127);
      std::uniform_real_distribution<float> scale(0.001f, 0.05f);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t b = 0; b < groups; ++b) {
          Group g;
          int32_t sum = 0;
          for (int8_t& q : g.q) sum += q = static_cast<int8_t>(byte(rng));
          g.scale = scale(rng);
          g.scaled_sum = g.scale * static_cast<float>(sum);
          for (int half = 0; half < 2; ++half) {
            int32_t half_sum = 0;
            for (int t = 0; t < 16; ++t) half_sum += g.q[half * 16 + t];
            g.scaled_half_sums[half] = g.scale * static_cast<float>(half_sum);
          }
          put_group(xq, groups, i, b, g);
          for (int t = 0; t < 32; ++t) x[i * k + b * 32 + t] = g.q[t] * static_cast<double>(g.scale);
        }
      }
      const std::vector<uint8_t> got = run_cpu(ops::matmul_int8(w, interleave), {{"xq", xq}, {"w", stored}}, "out",
                                               m * n * sizeof(float), {{"m", m}, {"n", n}, {"k", k}}, target);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          double want = 0, magnitude = 0;
          for (int64_t r = 0; r < k; ++r) {
            want += x[i * k + r] * weight.values[j * k + r];
            magnitude += std::fabs(x[i * k + r] * weight.values[j * k + r]);
          }
          float value;
          std::memcpy(&value, got.data() + (i * n + j) * sizeof(float), sizeof(float));
          // Each group's integer sum is exact; its two scales and the f32 sums over groups
          // round: a few ulps of the sum of |terms| (the f32 matmul's own bound, 1e-5).
          EXPECT_NEAR(value, want, 1e-5 * magnitude + 1e-30) << "out(" << i << ", " << j << ")";
        }
      }
    }
  }
}

TEST(Int8Path, MatmulOfEveryPackableFormatMatchesFloat64) {
  Rng rng(test_seed() + 1);
  // The host's schedule (a group's 8 words in one vector where 8 i32 lanes fit), and a
  // 128-bit CPU's (4-word tiles, the two halves unrolled).
  for (const Target& target : {host_cpu_target(), cpu_target({})}) {
    check_int8_matmul(rng, target, 1, {{1, 1, 32}, {1, 35, 64}, {6, 17, 96}, {4, 32, 768}});
  }
}

TEST(Int8Path, MatmulOverInterleavedWeightRowsMatchesFloat64) {
  Rng rng(test_seed() + 2);
  // A vector of 8 weight rows (AVX2's i32 lanes) and of 16 (AVX-512's); row tiles of x with
  // a remainder (m = 6), weight-row chunks with one (n = 40 with 8, n = 48 with 16).
  for (const int64_t interleave : {8, 16}) {
    check_int8_matmul(rng, host_cpu_target(), interleave,
                      {{1, interleave, 32}, {6, 5 * 8 * (interleave / 8), 96}, {4, 2 * interleave, 768}});
  }
}

TEST(Int8Path, InterleavedRowsKeepEveryByte) {
  Rng rng(test_seed() + 3);
  for (const DType w : weight_dtypes()) {
    if (!can_interleave_rows(w)) continue;
    const DTypeInfo& info = dtype_info(w);
    const int64_t n = 16, k = 2 * info.block_size, lanes = 8, blocks = k / info.block_size;
    const HostTensor weight = random_tensor("w", w, {n, k}, rng);
    const std::vector<uint8_t> moved = interleave_rows(w, weight.bytes, n, k, lanes);
    // The offsets of a group's bytes are a permutation of them.
    std::vector<int> hits(lanes * info.block_bytes, 0);
    for (int64_t lane = 0; lane < lanes; ++lane) {
      for (int64_t o = 0; o < info.block_bytes; ++o) {
        const int64_t at = interleaved_offset(w, lanes, lane, o);
        ASSERT_TRUE(at >= 0 && at < lanes * info.block_bytes) << dtype_name(w) << " lane " << lane << " byte " << o;
        ++hits[at];
      }
    }
    EXPECT_EQ(std::count(hits.begin(), hits.end(), 1), lanes * info.block_bytes) << dtype_name(w);
    // Byte o of block b of row r lies at its interleaved offset within its group's blocks.
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t b = 0; b < blocks; ++b) {
        for (int64_t o = 0; o < info.block_bytes; ++o) {
          const int64_t group = ((r / lanes) * blocks + b) * lanes * info.block_bytes;
          ASSERT_EQ(moved[group + interleaved_offset(w, lanes, r % lanes, o)],
                    weight.bytes[(r * blocks + b) * info.block_bytes + o])
              << dtype_name(w) << " row " << r << " block " << b << " byte " << o;
        }
      }
    }
    EXPECT_THROW(interleave_rows(w, weight.bytes, n, k, 3), UserError) << dtype_name(w);
  }
}

}  // namespace
}  // namespace kiln::test
