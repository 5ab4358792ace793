// Quantization against its inverse: random blocks (seed printed; KILN_TEST_SEED replays) come
// back from dequantize() within each format's rounding bound, derived below from how the format
// stores a block; exact cases come back exactly; bad sizes and formats are refused.
#include "base/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "base/dequantize.h"
#include "base/error.h"

namespace kiln {
namespace {

uint64_t seed() {
  static const uint64_t s = [] {
    const char* env = std::getenv("KILN_TEST_SEED");
    const uint64_t v = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
    std::printf("[ seed     ] %llu (KILN_TEST_SEED replays it)\n", static_cast<unsigned long long>(v));
    return v;
  }();
  return s;
}

std::vector<float> round_trip(DType dtype, const std::vector<float>& x) {
  std::vector<uint8_t> bytes(*dtype_row_bytes(dtype, x.size()));
  quantize(dtype, x, bytes);
  std::vector<float> y(x.size());
  dequantize(dtype, bytes, y);
  return y;
}

// Blocks of 32 with a random scale each, from tiny to large, so every exponent range is met.
std::vector<float> random_blocks(std::mt19937_64& rng, size_t blocks) {
  std::uniform_real_distribution<float> unit(-1, 1), exponent(-12, 12);
  std::vector<float> x(blocks * 32);
  for (size_t b = 0; b < blocks; ++b) {
    const float scale = std::exp2(exponent(rng));
    for (size_t j = 0; j < 32; ++j) x[b * 32 + j] = unit(rng) * scale;
  }
  return x;
}

// The worst error each element of a block may have. d is the block's step; storing d (and m)
// as f16 rounds them by at most 2^-11 relative, which moves an element by |q| times that.
double bound(DType dtype, const float* block) {
  double amax = 0, min = block[0], max = block[0];
  for (int j = 0; j < 32; ++j) {
    amax = std::max(amax, std::fabs(double(block[j])));
    min = std::min(min, double(block[j]));
    max = std::max(max, double(block[j]));
  }
  const double f16_rel = std::ldexp(1.0, -11);
  const double f16_min_step = std::ldexp(1.0, -24);  // a subnormal scale rounds absolutely
  switch (dtype) {
    case DType::q8_0: {  // q = round(x / d), |q| <= 127, d = amax / 127
      const double d = amax / 127;
      return d / 2 + 127 * (d * f16_rel + f16_min_step);
    }
    case DType::q4_0: {  // q - 8 in [-8, 7], d = amax / 8; the clamp at 15 costs up to one step
      const double d = amax / 8;
      return d + 8 * (d * f16_rel + f16_min_step);
    }
    case DType::q4_1: {  // q in [0, 15], d = (max - min) / 15, m = min
      const double d = (max - min) / 15;
      return d / 2 + 15 * (d * f16_rel + f16_min_step) + std::fabs(min) * f16_rel + f16_min_step;
    }
    case DType::q5_0: {  // q - 16 in [-16, 15], d = amax / 16; the clamp at 31 costs up to one step
      const double d = amax / 16;
      return d + 16 * (d * f16_rel + f16_min_step);
    }
    default: return 0;
  }
}

// The K formats: the worst error of each element of a 256-element block. kiln rounds each
// group's scale (and q4_K's offset) up from an f16 super-scale, so an element is within half
// of its group's step, which is at most the group's own step plus one super-scale unit.
std::vector<double> k_bounds(DType dtype, const float* block) {
  const double f16_rel = std::ldexp(1.0, -11), slack = std::ldexp(1.0, -20);
  std::vector<double> limits(256);
  if (dtype == DType::q4_K) {  // groups of 32: x = d * sc * q - dmin * m, q in [0, 15], sc, m < 64
    double offset[8], range[8], top_offset = 0;
    for (int g = 0; g < 8; ++g) {
      double lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) lo = std::min(lo, double(block[32 * g + l])), hi = std::max(hi, double(block[32 * g + l]));
      offset[g] = -lo;
      range[g] = hi - lo;
      top_offset = std::max(top_offset, offset[g]);
    }
    const double dmin = top_offset / 63 * (1 + f16_rel);
    double top = 0;
    for (int g = 0; g < 8; ++g) top = std::max(top, range[g] + dmin);
    const double d = top / 15 / 63 * (1 + f16_rel);
    for (int j = 0; j < 256; ++j) {
      const int g = j / 32;
      limits[j] = 0.5 * ((range[g] + dmin) / 15 + d) + (top_offset + top) * slack + std::ldexp(1.0, -24);
    }
  } else {  // q6_K, groups of 16: x = d * sc * (q - 32), q - 32 in [-32, 31], |sc| < 128
    double amax[16], top = 0;
    for (int s = 0; s < 16; ++s) {
      amax[s] = 0;
      for (int l = 0; l < 16; ++l) amax[s] = std::max(amax[s], std::fabs(double(block[16 * s + l])));
      top = std::max(top, amax[s]);
    }
    const double d = top / 31 / 127 * (1 + f16_rel);
    for (int j = 0; j < 256; ++j) limits[j] = 0.5 * (amax[j / 16] / 31 + d) + top * slack + std::ldexp(1.0, -24);
  }
  return limits;
}

TEST(Quantize, BlockFormatsComeBackWithinTheirRoundingBound) {
  std::mt19937_64 rng(seed());
  const std::vector<float> x = random_blocks(rng, 512);
  for (DType dtype : {DType::q8_0, DType::q4_0, DType::q4_1, DType::q5_0}) {
    const std::vector<float> y = round_trip(dtype, x);
    for (size_t i = 0; i < x.size(); ++i) {
      const double limit = bound(dtype, &x[i / 32 * 32]);
      ASSERT_LE(std::fabs(double(x[i]) - y[i]), limit * (1 + 1e-6))
          << dtype_name(dtype) << " element " << i << ": " << x[i] << " -> " << y[i] << " (seed " << seed() << ")";
    }
  }
}

TEST(Quantize, KFormatsComeBackWithinHalfTheirGroupsStep) {
  std::mt19937_64 rng(seed() + 1);
  // Groups of every magnitude in one block (the super-scale must serve them all), and blocks
  // of one magnitude with signs mixed, all positive and all negative.
  std::vector<float> x = random_blocks(rng, 256);
  std::uniform_real_distribution<float> unit(-1, 1);
  for (int b = 0; b < 8; ++b) {
    for (int j = 0; j < 256; ++j) {
      const float v = unit(rng) * 3.0f;
      x.push_back(b % 3 == 0 ? v : b % 3 == 1 ? std::fabs(v) : -std::fabs(v));
    }
  }
  for (DType dtype : {DType::q4_K, DType::q6_K}) {
    const std::vector<float> y = round_trip(dtype, x);
    for (size_t b = 0; b < x.size() / 256; ++b) {
      const std::vector<double> limits = k_bounds(dtype, &x[b * 256]);
      for (size_t j = 0; j < 256; ++j) {
        const size_t i = b * 256 + j;
        ASSERT_LE(std::fabs(double(x[i]) - y[i]), limits[j])
            << dtype_name(dtype) << " element " << i << ": " << x[i] << " -> " << y[i] << " (seed " << seed() << ")";
      }
    }
  }
  std::vector<float> zeros(256, 0.0f);
  EXPECT_EQ(round_trip(DType::q4_K, zeros), zeros);
  EXPECT_EQ(round_trip(DType::q6_K, zeros), zeros);
}

TEST(Quantize, HalfFormatsRoundToNearest) {
  std::mt19937_64 rng(seed());
  const std::vector<float> x = random_blocks(rng, 64);
  const std::vector<float> h = round_trip(DType::f16, x), b = round_trip(DType::bf16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    // Nearest: within half a unit in the last place (f16: 11 bits, bf16: 8 bits of precision),
    // or half the smallest f16 subnormal.
    EXPECT_LE(std::fabs(double(x[i]) - h[i]), std::max(std::fabs(double(x[i])) * std::ldexp(1.0, -11), std::ldexp(1.0, -25)));
    EXPECT_LE(std::fabs(double(x[i]) - b[i]), std::fabs(double(x[i])) * std::ldexp(1.0, -8));
  }
  EXPECT_EQ(round_trip(DType::f32, x), x);
}

TEST(Quantize, ExactBlocksComeBackExactly) {
  // Multiples of a power-of-two step that fit each format's integer range.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j % 16 - 8) * 0.25f;
  x[0] = -2.0f;  // the largest magnitude, -8 steps: q4_0's d = 0.25 exactly
  EXPECT_EQ(round_trip(DType::q4_0, x), x);
  std::vector<float> u(32);
  for (int j = 0; j < 32; ++j) u[j] = 1.0f + static_cast<float>(j % 16) * 0.5f;  // min 1, step 0.5
  EXPECT_EQ(round_trip(DType::q4_1, u), u);
  std::vector<float> zeros(64, 0.0f);
  for (DType dtype : {DType::q8_0, DType::q4_0, DType::q4_1}) EXPECT_EQ(round_trip(dtype, zeros), zeros);
}

TEST(Quantize, RefusesWhatItCannotWrite) {
  std::vector<float> x(31, 1.0f);
  std::vector<uint8_t> out(64);
  EXPECT_THROW(quantize(DType::q8_0, x, out), UserError);  // not whole blocks
  std::vector<float> y(32, 1.0f);
  EXPECT_THROW(quantize(DType::q8_0, y, std::span<uint8_t>(out.data(), 33)), UserError);  // wrong size
  EXPECT_THROW(quantize(DType::q3_K, y, out), UserError);
  EXPECT_FALSE(can_quantize(DType::q2_K));
  EXPECT_TRUE(can_quantize(DType::q6_K));
  EXPECT_TRUE(can_quantize(DType::q4_1));
}

}  // namespace
}  // namespace kiln
