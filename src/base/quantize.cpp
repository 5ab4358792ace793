#include "base/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/half.h"

namespace kiln {
namespace {

void store_f16(uint8_t* out, float value) {
  const uint16_t h = f32_to_f16(value);
  std::memcpy(out, &h, 2);
}

// Element j of a 32-element 4-bit block: the low nibble of byte j for j < 16, the high nibble
// of byte j - 16 after (as dequantize.cpp reads it).
void store_nibbles(uint8_t* qs, const int* q) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(q[j] | q[j + 16] << 4);
}

// The element of a 32-element block with the largest magnitude, its sign kept (the first of
// equal ones): q4_0 and q5_0 map it to their most negative step.
float largest_magnitude(const float* x) {
  float amax = 0, max = 0;
  for (int j = 0; j < 32; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// q8_0, 34 bytes: f16 d = amax / 127, i8 q = round(x / d).
void q8_0_block(const float* x, uint8_t* out) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_f16(out, d);
  for (int j = 0; j < 32; ++j) out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::lround(x[j] * id)));
}

// q4_0, 18 bytes: the element of largest magnitude, sign kept, maps to -8: d = max / -8,
// q = x / d + 8 rounded, at most 15.
void q4_0_block(const float* x, uint8_t* out) {
  const float d = largest_magnitude(x) / -8.0f;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_f16(out, d);
  int q[32];
  for (int j = 0; j < 32; ++j) q[j] = std::min(15, static_cast<int>(x[j] * id + 8.5f));
  store_nibbles(out + 2, q);
}

// q4_1, 20 bytes: d = (max - min) / 15, m = min, q = (x - min) / d rounded, at most 15.
void q4_1_block(const float* x, uint8_t* out) {
  float min = x[0], max = x[0];
  for (int j = 1; j < 32; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
  const float d = (max - min) / 15.0f;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_f16(out, d);
  store_f16(out + 2, min);
  int q[32];
  for (int j = 0; j < 32; ++j) q[j] = std::min(15, static_cast<int>((x[j] - min) * id + 0.5f));
  store_nibbles(out + 4, q);
}

// The f32 value of an f16-rounded number: scales are computed with the value the file keeps.
float as_f16(float value) { return f16_to_f32(f32_to_f16(value)); }

// q5_0, 22 bytes: as q4_0 with 5 bits: d = max / -16, q = x / d + 16 rounded, at most 31;
// the fifth bits in a u32 (bit j for element j), the low 4 in nibbles as q4_0's.
void q5_0_block(const float* x, uint8_t* out) {
  const float d = largest_magnitude(x) / -16.0f;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  store_f16(out, d);
  int q[32];
  uint32_t high = 0;
  for (int j = 0; j < 32; ++j) {
    q[j] = std::min(31, static_cast<int>(x[j] * id + 16.5f));
    high |= static_cast<uint32_t>(q[j] >> 4) << j;
    q[j] &= 15;
  }
  std::memcpy(out + 2, &high, 4);
  store_nibbles(out + 6, q);
}

// q4_K, 144 bytes per 256: 8 groups of 32, each x = (d * scale) * q - (dmin * min) with 6-bit
// scale and min and 4-bit q. Each group's offset covers its smallest value (min rounded up),
// and its scale the rest of its range (rounded up): every value is within half a step.
void q4_K_block(const float* x, uint8_t* out) {
  float offset[8], range[8];
  for (int g = 0; g < 8; ++g) {
    float lo = 0, hi = 0;  // the offset is never negative: a group of positives starts at 0
    for (int l = 0; l < 32; ++l) {
      lo = std::min(lo, x[32 * g + l]);
      hi = std::max(hi, x[32 * g + l]);
    }
    offset[g] = -lo;
    range[g] = hi - lo;
  }
  const float dmin = as_f16(*std::max_element(offset, offset + 8) / 63.0f);
  int min[8], scale[8];
  for (int g = 0; g < 8; ++g) {
    min[g] = dmin > 0 ? std::min(63, static_cast<int>(std::ceil(offset[g] / dmin))) : 0;
    range[g] = range[g] + (dmin * min[g] - offset[g]);  // the top after the rounded-up offset
  }
  const float d = as_f16(*std::max_element(range, range + 8) / 15.0f / 63.0f);
  for (int g = 0; g < 8; ++g) scale[g] = d > 0 ? std::min(63, static_cast<int>(std::ceil(range[g] / 15.0f / d))) : 0;
  store_f16(out, d);
  store_f16(out + 2, dmin);
  // Groups 0-3 keep 6 bits in bytes g (scale) and g + 4 (min); groups 4-7 their low 4 bits in
  // byte g + 4's nibbles and their top 2 bits in the top of bytes g - 4 and g.
  uint8_t* packed = out + 4;
  for (int g = 0; g < 4; ++g) {
    packed[g] = static_cast<uint8_t>((scale[g] & 63) | (scale[g + 4] >> 4) << 6);
    packed[g + 4] = static_cast<uint8_t>((min[g] & 63) | (min[g + 4] >> 4) << 6);
    packed[g + 8] = static_cast<uint8_t>((scale[g + 4] & 15) | (min[g + 4] & 15) << 4);
  }
  uint8_t* qs = out + 16;
  std::memset(qs, 0, 128);
  for (int g = 0; g < 8; ++g) {
    const float step = d * scale[g], shift = dmin * min[g];
    const float inverse = step > 0 ? 1.0f / step : 0.0f;
    for (int l = 0; l < 32; ++l) {
      const int q = std::clamp(static_cast<int>(std::lround((x[32 * g + l] + shift) * inverse)), 0, 15);
      qs[g / 2 * 32 + l] |= static_cast<uint8_t>(q << (g % 2 * 4));
    }
  }
}

// q6_K, 210 bytes per 256: 16 groups of 16, each x = (d * scale) * (q - 32) with an i8 scale
// and 6-bit q. Each group's scale (rounded up) keeps its largest magnitude within 31 steps.
void q6_K_block(const float* x, uint8_t* out) {
  float amax[16];
  for (int s = 0; s < 16; ++s) {
    amax[s] = 0;
    for (int l = 0; l < 16; ++l) amax[s] = std::max(amax[s], std::fabs(x[16 * s + l]));
  }
  const float d = as_f16(*std::max_element(amax, amax + 16) / 31.0f / 127.0f);
  int8_t scale[16];
  for (int s = 0; s < 16; ++s) {
    scale[s] = static_cast<int8_t>(d > 0 ? std::min(127, static_cast<int>(std::ceil(amax[s] / 31.0f / d))) : 0);
  }
  uint8_t* ql = out;
  uint8_t* qh = out + 128;
  std::memset(out, 0, 192);
  std::memcpy(out + 192, scale, 16);
  store_f16(out + 208, d);
  // Element 128 h + 32 k + l: nibble k / 2 of ql[64 h + 32 (k % 2) + l], bits 2 k of qh[32 h + l].
  for (int j = 0; j < 256; ++j) {
    const float step = d * scale[j / 16];
    const int q = step > 0 ? std::clamp(static_cast<int>(std::lround(x[j] / step)), -32, 31) + 32 : 32;
    const int h = j / 128, k = j / 32 % 4, l = j % 32;
    ql[64 * h + 32 * (k % 2) + l] |= static_cast<uint8_t>((q & 15) << (k / 2 * 4));
    qh[32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
  }
}

}  // namespace

bool can_quantize(DType dtype) {
  switch (dtype) {
    case DType::f32: case DType::f16: case DType::bf16: case DType::q8_0: case DType::q4_0: case DType::q4_1:
    case DType::q5_0: case DType::q4_K: case DType::q6_K:
      return true;
    default: return false;
  }
}

void quantize(DType dtype, std::span<const float> src, std::span<uint8_t> dst) {
  if (!can_quantize(dtype)) user_error("kiln cannot quantize to {} yet", dtype_name(dtype));
  const std::optional<uint64_t> bytes = dtype_row_bytes(dtype, src.size());
  if (!bytes || *bytes != dst.size()) {
    user_error("quantize to {}: {} elements do not make {} bytes of whole blocks", dtype_name(dtype), src.size(),
               dst.size());
  }
  const size_t n = src.size();
  switch (dtype) {
    case DType::f32: std::memcpy(dst.data(), src.data(), n * 4); return;
    case DType::f16:
      for (size_t i = 0; i < n; ++i) store_f16(dst.data() + 2 * i, src[i]);
      return;
    case DType::bf16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t b = f32_to_bf16(src[i]);
        std::memcpy(dst.data() + 2 * i, &b, 2);
      }
      return;
    default: break;
  }
  void (*block)(const float*, uint8_t*) = nullptr;
  switch (dtype) {
    case DType::q8_0: block = q8_0_block; break;
    case DType::q4_0: block = q4_0_block; break;
    case DType::q4_1: block = q4_1_block; break;
    case DType::q5_0: block = q5_0_block; break;
    case DType::q4_K: block = q4_K_block; break;
    case DType::q6_K: block = q6_K_block; break;
    default: KILN_UNREACHABLE("no block quantizer for {}", dtype_name(dtype));
  }
  const DTypeInfo& info = dtype_info(dtype);
  for (size_t b = 0; b < n / info.block_size; ++b) block(src.data() + b * info.block_size, dst.data() + b * info.block_bytes);
}

}  // namespace kiln
