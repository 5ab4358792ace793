// f16 and bf16 conversions: exhaustive over every 16-bit pattern, and float32 -> 16 bits checked
// against a float64 reference that rounds to nearest even by searching the format's values.
#include "base/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>

namespace kiln {
namespace {

// A binary16-like format: 1 sign bit, `exponent_bits`, `mantissa_bits`, IEEE semantics.
struct Format {
  const char* name;
  int exponent_bits;
  int mantissa_bits;

  int bias() const { return (1 << (exponent_bits - 1)) - 1; }
  uint16_t infinity() const {
    return static_cast<uint16_t>(((1u << exponent_bits) - 1) << mantissa_bits);
  }
  bool is_nan(uint16_t bits) const {
    return (bits & 0x7fffu) > infinity();
  }

  // The value of a non-negative pattern, from the definition. The infinity pattern gets the value
  // the next binade would start at (65536 for f16, 2^128 for bf16): IEEE rounds to infinity
  // exactly when that value is the nearer one.
  double magnitude(uint16_t bits) const {
    const int exponent = (bits & 0x7fff) >> mantissa_bits;
    const int mantissa = bits & ((1 << mantissa_bits) - 1);
    if (exponent == 0) return std::ldexp(mantissa, 1 - bias() - mantissa_bits);
    return std::ldexp((1 << mantissa_bits) + mantissa, exponent - bias() - mantissa_bits);
  }

  double value(uint16_t bits) const {
    if ((bits & 0x7fffu) == infinity()) {
      return (bits & 0x8000u) ? -std::numeric_limits<double>::infinity()
                              : std::numeric_limits<double>::infinity();
    }
    const double m = magnitude(bits);
    return (bits & 0x8000u) ? -m : m;
  }

  // Round-to-nearest-even of a non-NaN float, by binary search over the non-negative patterns.
  uint16_t round(float x) const {
    const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    const double a = std::fabs(static_cast<double>(x));
    if (a >= magnitude(infinity())) return sign | infinity();
    // Largest pattern `lo` with magnitude(lo) <= a; magnitude(infinity) > a.
    uint32_t lo = 0;
    uint32_t hi = infinity();
    while (hi - lo > 1) {
      const uint32_t mid = (lo + hi) / 2;
      if (magnitude(static_cast<uint16_t>(mid)) <= a) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    const double below = a - magnitude(static_cast<uint16_t>(lo));
    const double above = magnitude(static_cast<uint16_t>(hi)) - a;
    uint32_t nearest = below < above ? lo : hi;
    if (below == above) nearest = (lo % 2 == 0) ? lo : hi;
    return static_cast<uint16_t>(sign | nearest);
  }
};

constexpr Format kF16{"f16", 5, 10};
constexpr Format kBF16{"bf16", 8, 7};

constexpr float kInfinity = std::numeric_limits<float>::infinity();

std::string hex(uint32_t bits) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%08x", bits);
  return buffer;
}

TEST(Half, ReferenceFormatSanity) {
  EXPECT_EQ(kF16.infinity(), 0x7c00);
  EXPECT_EQ(kF16.magnitude(0x7bff), 65504.0);
  EXPECT_EQ(kF16.magnitude(0x0001), std::ldexp(1.0, -24));
  EXPECT_EQ(kF16.magnitude(0x3c00), 1.0);
  EXPECT_EQ(kBF16.infinity(), 0x7f80);
  EXPECT_EQ(kBF16.magnitude(0x3f80), 1.0);
  EXPECT_EQ(kBF16.magnitude(0x0001), std::ldexp(1.0, -133));
  EXPECT_EQ(kF16.round(65519.0f), 0x7bff);
  EXPECT_EQ(kF16.round(65520.0f), 0x7c00);
}

TEST(Half, F16ToF32IsExactForEveryPattern) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    const float f = f16_to_f32(bits);
    if (kF16.is_nan(bits)) {
      EXPECT_TRUE(std::isnan(f)) << hex(h);
      EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << hex(h);
      continue;
    }
    EXPECT_EQ(static_cast<double>(f), kF16.value(bits)) << hex(h);
    EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << hex(h);  // -0 stays -0
  }
}

TEST(Half, F16RoundTripIsExactForEveryPattern) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    const uint16_t back = f32_to_f16(f16_to_f32(bits));
    if (kF16.is_nan(bits)) {
      EXPECT_TRUE(kF16.is_nan(back)) << hex(h) << " -> " << hex(back);
      EXPECT_EQ(back & 0x8000, bits & 0x8000) << hex(h);
    } else {
      EXPECT_EQ(back, bits) << hex(h);
    }
  }
}

TEST(Half, F32ToF16SpecialValues) {
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(kInfinity), 0x7c00);
  EXPECT_EQ(f32_to_f16(-kInfinity), 0xfc00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // the tie rounds to even, which is infinity
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::max()), 0x7c00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::max()), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // half of it: tie to even (zero)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 quanta: tie to even (2)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::denorm_min()), 0x8000);
  for (uint32_t nan_bits : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu, 0xffc00000u,
                            0x7f802000u, 0x7f801fffu}) {
    const uint16_t h = f32_to_f16(bits_to_float(nan_bits));
    EXPECT_TRUE(kF16.is_nan(h)) << hex(nan_bits) << " -> " << hex(h);
    EXPECT_EQ((h & 0x8000) != 0, (nan_bits & 0x80000000u) != 0) << hex(nan_bits);
  }
}

// Every point halfway between two neighbouring f16 values, and the floats either side of it.
TEST(Half, F32ToF16RoundsEveryMidpointToNearestEven) {
  for (uint32_t h = 0; h < kF16.infinity(); ++h) {
    const double mid = (kF16.magnitude(static_cast<uint16_t>(h)) +
                        kF16.magnitude(static_cast<uint16_t>(h + 1))) / 2;
    const float x = static_cast<float>(mid);
    ASSERT_EQ(static_cast<double>(x), mid) << "midpoint must be a float";
    for (float sign : {1.0f, -1.0f}) {
      for (float probe : {x, std::nextafter(x, 0.0f), std::nextafter(x, kInfinity)}) {
        const float v = sign * probe;
        EXPECT_EQ(f32_to_f16(v), kF16.round(v)) << hex(float_to_bits(v));
      }
    }
  }
}

TEST(Half, F32ToF16MatchesReferenceOnRandomFloats) {
  constexpr uint32_t kSeed = 20240611;
  std::mt19937 rng(kSeed);
  SCOPED_TRACE(::testing::Message() << "seed " << kSeed);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::uniform_real_distribution<float> subnormal(0.0f, std::ldexp(1.0f, -14));
  std::uniform_real_distribution<float> near_overflow(60000.0f, 70000.0f);
  std::uniform_real_distribution<float> log_magnitude(-30.0f, 17.0f);
  int mismatches = 0;
  for (int i = 0; i < (1 << 20) && mismatches < 20; ++i) {
    float x;
    switch (i % 4) {
      case 0: x = bits_to_float(any_bits(rng)); break;
      case 1: x = subnormal(rng); break;
      case 2: x = near_overflow(rng); break;
      default: x = std::exp2(log_magnitude(rng)); break;
    }
    if (any_bits(rng) & 1) x = -x;
    if (std::isnan(x)) {
      EXPECT_TRUE(kF16.is_nan(f32_to_f16(x))) << hex(float_to_bits(x));
      continue;
    }
    const uint16_t got = f32_to_f16(x);
    const uint16_t want = kF16.round(x);
    if (got != want) {
      ++mismatches;
      ADD_FAILURE() << "f32_to_f16(" << x << " = " << hex(float_to_bits(x)) << ") = " << hex(got)
                    << ", reference " << hex(want);
    }
  }
}

TEST(BFloat16, BF16ToF32IsExactForEveryPattern) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const uint16_t bits = static_cast<uint16_t>(b);
    const float f = bf16_to_f32(bits);
    if (kBF16.is_nan(bits)) {
      EXPECT_TRUE(std::isnan(f)) << hex(b);
      continue;
    }
    EXPECT_EQ(static_cast<double>(f), kBF16.value(bits)) << hex(b);
    EXPECT_EQ(std::signbit(f), (b & 0x8000) != 0) << hex(b);
  }
}

TEST(BFloat16, RoundTripIsExactForEveryPattern) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const uint16_t bits = static_cast<uint16_t>(b);
    const uint16_t back = f32_to_bf16(bf16_to_f32(bits));
    if (kBF16.is_nan(bits)) {
      EXPECT_TRUE(kBF16.is_nan(back)) << hex(b) << " -> " << hex(back);
      EXPECT_EQ(back & 0x8000, bits & 0x8000) << hex(b);
    } else {
      EXPECT_EQ(back, bits) << hex(b);
    }
  }
}

TEST(BFloat16, SpecialValues) {
  EXPECT_EQ(f32_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(kInfinity), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-kInfinity), 0xff80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up past the max
  EXPECT_EQ(f32_to_bf16(bits_to_float(0x3f808000u)), 0x3f80);      // tie, even below
  EXPECT_EQ(f32_to_bf16(bits_to_float(0x3f818000u)), 0x3f82);      // tie, even above
  EXPECT_EQ(f32_to_bf16(bits_to_float(0x3f808001u)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(bits_to_float(0x00000001u)), 0x0000);      // float subnormals
  EXPECT_EQ(f32_to_bf16(bits_to_float(0x00008000u)), 0x0000);
  EXPECT_EQ(f32_to_bf16(bits_to_float(0x00018000u)), 0x0002);
  // NaNs whose payload lives only in the low 16 bits must not become infinity.
  for (uint32_t nan_bits : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu, 0x7f80ffffu,
                            0xff80ffffu, 0x7f810000u}) {
    const uint16_t b = f32_to_bf16(bits_to_float(nan_bits));
    EXPECT_TRUE(kBF16.is_nan(b)) << hex(nan_bits) << " -> " << hex(b);
    EXPECT_EQ((b & 0x8000) != 0, (nan_bits & 0x80000000u) != 0) << hex(nan_bits);
  }
}

TEST(BFloat16, RoundsEveryMidpointToNearestEven) {
  for (uint32_t b = 0; b < kBF16.infinity(); ++b) {
    const double mid = (kBF16.magnitude(static_cast<uint16_t>(b)) +
                        kBF16.magnitude(static_cast<uint16_t>(b + 1))) / 2;
    const float x = static_cast<float>(mid);
    ASSERT_EQ(static_cast<double>(x), mid) << "midpoint must be a float";
    for (float sign : {1.0f, -1.0f}) {
      for (float probe : {x, std::nextafter(x, 0.0f), std::nextafter(x, kInfinity)}) {
        const float v = sign * probe;
        EXPECT_EQ(f32_to_bf16(v), kBF16.round(v)) << hex(float_to_bits(v));
      }
    }
  }
}

TEST(BFloat16, MatchesReferenceOnRandomFloats) {
  constexpr uint32_t kSeed = 7;
  std::mt19937 rng(kSeed);
  SCOPED_TRACE(::testing::Message() << "seed " << kSeed);
  std::uniform_int_distribution<uint32_t> any_bits;
  int mismatches = 0;
  for (int i = 0; i < (1 << 20) && mismatches < 20; ++i) {
    const float x = bits_to_float(any_bits(rng));
    if (std::isnan(x)) {
      EXPECT_TRUE(kBF16.is_nan(f32_to_bf16(x))) << hex(float_to_bits(x));
      continue;
    }
    const uint16_t got = f32_to_bf16(x);
    const uint16_t want = kBF16.round(x);
    if (got != want) {
      ++mismatches;
      ADD_FAILURE() << "f32_to_bf16(" << x << " = " << hex(float_to_bits(x)) << ") = " << hex(got)
                    << ", reference " << hex(want);
    }
  }
}

}  // namespace
}  // namespace kiln
