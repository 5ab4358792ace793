#include "base/quantize.h"

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
  float amax = 0, max = 0;
  for (int j = 0; j < 32; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / -8.0f;
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

}  // namespace

bool can_quantize(DType dtype) {
  switch (dtype) {
    case DType::f32: case DType::f16: case DType::bf16: case DType::q8_0: case DType::q4_0: case DType::q4_1:
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
  void (*block)(const float*, uint8_t*) = dtype == DType::q8_0 ? q8_0_block : dtype == DType::q4_0 ? q4_0_block : q4_1_block;
  const DTypeInfo& info = dtype_info(dtype);
  for (size_t b = 0; b < n / info.block_size; ++b) block(src.data() + b * info.block_size, dst.data() + b * info.block_bytes);
}

}  // namespace kiln
