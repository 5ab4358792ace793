// Block layouts: ggml's, as `gguf/quants.py` (the `gguf` Python package) describes them. Each
// format below has one function that turns one block into float32, with the layout in a comment.
// All multi-byte fields are little-endian and unaligned; "f16" is an IEEE half.
//
// Every output is the exact value of its formula rounded once to float32, whatever the order of
// evaluation: scales are f16 (11 significant bits) and quants small integers, so products such
// as (d * scale) * q need at most 23 bits and are exact; at most one add or subtract (or, for
// q8_K's float32 d, one multiply) then rounds. So any backend that computes in float32, with or
// without fused multiply-adds, gets bit-identical results. The one hazard is flush-to-zero:
// mxfp4 scales with exponent byte 0 or 1, and tiny q8_K or bf16 values, are float32 subnormals.
#include "base/dequantize.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/half.h"

namespace kiln {
namespace {

static_assert(std::endian::native == std::endian::little, "the loads assume a little-endian host");

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

float load_f16(const uint8_t* p) { return f16_to_f32(load_u16(p)); }

// ---- Plain floats -------------------------------------------------------------------------

void f32_block(const uint8_t* b, float* y) { std::memcpy(y, b, sizeof(float)); }
void f16_block(const uint8_t* b, float* y) { y[0] = f16_to_f32(load_u16(b)); }
void bf16_block(const uint8_t* b, float* y) { y[0] = bf16_to_f32(load_u16(b)); }

// ---- 32-element formats -------------------------------------------------------------------
// In the 4- and 5-bit ones, byte qs[j] holds element j in its low nibble and element j + 16 in
// its high nibble.

int nibble(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4; }

// q4_0, 18 bytes: f16 d, u8 qs[16].  x = d * (q - 8)
void q4_0_block(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(nibble(b + 2, j) - 8);
}

// q4_1, 20 bytes: f16 d, f16 m, u8 qs[16].  x = d * q + m
void q4_1_block(const uint8_t* b, float* y) {
  const float d = load_f16(b), m = load_f16(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(nibble(b + 4, j)) + m;
}

// q5_0, 22 bytes: f16 d, u32 qh (bit j: 5th bit of element j), u8 qs[16].  x = d * (q - 16)
void q5_0_block(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint32_t qh = load_u32(b + 2);
  for (int j = 0; j < 32; ++j) {
    const int q = nibble(b + 6, j) | static_cast<int>((qh >> j) & 1) << 4;
    y[j] = d * static_cast<float>(q - 16);
  }
}

// q5_1, 24 bytes: f16 d, f16 m, u32 qh, u8 qs[16].  x = d * q + m
void q5_1_block(const uint8_t* b, float* y) {
  const float d = load_f16(b), m = load_f16(b + 2);
  const uint32_t qh = load_u32(b + 4);
  for (int j = 0; j < 32; ++j) {
    const int q = nibble(b + 8, j) | static_cast<int>((qh >> j) & 1) << 4;
    y[j] = d * static_cast<float>(q) + m;
  }
}

// q8_0, 34 bytes: f16 d, i8 qs[32].  x = d * q
void q8_0_block(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(static_cast<int8_t>(b[2 + j]));
}

// q8_1, 36 bytes: f16 d, f16 s (= d * sum(q), unused here), i8 qs[32].  x = d * q
void q8_1_block(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(static_cast<int8_t>(b[4 + j]));
}

// The non-linear 4-bit grid shared by iq4_nl and iq4_xs.
constexpr int8_t kIq4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                   1,    13,   25,  38,  53,  69,  89,  113};

// iq4_nl, 18 bytes: f16 d, u8 qs[16] (indices into kIq4Values).  x = d * value
void iq4_nl_block(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(kIq4Values[nibble(b + 2, j)]);
}

// mxfp4, 17 bytes: u8 e (e8m0 shared exponent: 2^(e - 127)), u8 qs[16] (e2m1 codes).
// The e2m1 values are stored doubled as small integers, so the scale is halved: 2^(e - 128).
// x = scale * value
constexpr int8_t kDoubledE2M1[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

void mxfp4_block(const uint8_t* b, float* y) {
  const uint32_t e = b[0];
  // 2^(e - 128) is a float32 subnormal for e < 2, a normal otherwise.
  const float scale = bits_to_float(e < 2 ? 0x00200000u << e : (e - 1) << 23);
  for (int j = 0; j < 32; ++j) y[j] = scale * static_cast<float>(kDoubledE2M1[nibble(b + 1, j)]);
}

// A ue4m3 scale, halved for the doubled e2m1 values: 4 exponent bits (bias 7) and 3 mantissa
// bits; bit 7 is ignored, and 0x7F (NaN in e4m3) reads as 0, as in ggml.
float ue4m3_half(uint8_t x) {
  if (x == 0x7F) return 0.0f;
  const int exp = (x >> 3) & 0xF;
  const int man = x & 7;
  if (exp == 0) return std::ldexp(static_cast<float>(man), -10);
  return std::ldexp(static_cast<float>(8 + man), exp - 11);
}

// nvfp4, 36 bytes: u8 d[4] (ue4m3 scale per 16 elements), u8 qs[32] (e2m1 codes). Sub-block s
// uses qs[8s .. 8s+7]: low nibbles are its elements 0..7, high nibbles 8..15.
// x = scale * value
void nvfp4_block(const uint8_t* b, float* y) {
  for (int s = 0; s < 4; ++s) {
    const float scale = ue4m3_half(b[s]);
    const uint8_t* qs = b + 4 + 8 * s;
    for (int j = 0; j < 8; ++j) {
      y[16 * s + j] = scale * static_cast<float>(kDoubledE2M1[qs[j] & 15]);
      y[16 * s + j + 8] = scale * static_cast<float>(kDoubledE2M1[qs[j] >> 4]);
    }
  }
}

// ---- 256-element "K" formats --------------------------------------------------------------
// Elements are handled in 8 groups g of 32. In the 2-bit fields, byte qs[(g / 4) * 32 + l]
// holds element 32 * g + l in bits 2 * (g % 4) and up.

int crumb(const uint8_t* qs, int g, int l) { return (qs[(g / 4) * 32 + l] >> (2 * (g % 4))) & 3; }

// q2_K, 84 bytes: u8 scales[16] (per 16 elements: low nibble scale, high nibble min),
// u8 qs[64] (2-bit), f16 d, f16 dmin.  x = (d * scale) * q - (dmin * min)
void q2_K_block(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* qs = b + 16;
  const float d = load_f16(b + 80), dmin = load_f16(b + 82);
  for (int g = 0; g < 8; ++g) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t sc = scales[2 * g + l / 16];
      const float dl = d * static_cast<float>(sc & 0xF);
      const float ml = dmin * static_cast<float>(sc >> 4);
      y[32 * g + l] = dl * static_cast<float>(crumb(qs, g, l)) - ml;
    }
  }
}

// q3_K, 110 bytes: u8 hmask[32] (bit g of hmask[l]: high bit of element 32 * g + l),
// u8 qs[64] (low 2 bits), u8 scales[12] (sixteen 6-bit scales, biased by 32), f16 d.
// Scale s: low 4 bits from nibble s / 8 of scales[s % 8], high 2 bits from bits 2 * (s / 4) of
// scales[8 + s % 4]. q = low2 - (high bit clear ? 4 : 0).  x = (d * (scale - 32)) * q
void q3_K_block(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32;
  const uint8_t* scales = b + 96;
  const float d = load_f16(b + 108);
  for (int g = 0; g < 8; ++g) {
    for (int l = 0; l < 32; ++l) {
      const int s = 2 * g + l / 16;
      const int low = (scales[s % 8] >> (4 * (s / 8))) & 0xF;
      const int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
      const float dl = d * static_cast<float>((low | high << 4) - 32);
      const int q = crumb(qs, g, l) - (((hmask[l] >> g) & 1) ? 0 : 4);
      y[32 * g + l] = dl * static_cast<float>(q);
    }
  }
}

// The 12 packed scale bytes of q4_K and q5_K: eight 6-bit scales and eight 6-bit mins, one
// pair per group of 32. Groups 0-3: scale = bytes[g] & 63, min = bytes[g + 4] & 63. Groups 4-7
// take their low 4 bits from the nibbles of bytes[g + 4] and their high 2 bits from the top
// bits of bytes[g - 4] (scale) and bytes[g] (min).
void k_scale_min(const uint8_t* bytes, int g, int& scale, int& min) {
  if (g < 4) {
    scale = bytes[g] & 63;
    min = bytes[g + 4] & 63;
  } else {
    scale = (bytes[g + 4] & 0xF) | (bytes[g - 4] >> 6) << 4;
    min = (bytes[g + 4] >> 4) | (bytes[g] >> 6) << 4;
  }
}

// In q4_K and q5_K, byte qs[(g / 2) * 32 + l] holds element 32 * g + l in nibble g % 2.
int k_nibble(const uint8_t* qs, int g, int l) {
  return (qs[(g / 2) * 32 + l] >> (4 * (g % 2))) & 0xF;
}

// q4_K, 144 bytes: f16 d, f16 dmin, u8 scales[12], u8 qs[128] (4-bit).
// x = (d * scale) * q - (dmin * min)
void q4_K_block(const uint8_t* b, float* y) {
  const float d = load_f16(b), dmin = load_f16(b + 2);
  for (int g = 0; g < 8; ++g) {
    int scale, min;
    k_scale_min(b + 4, g, scale, min);
    const float dl = d * static_cast<float>(scale);
    const float ml = dmin * static_cast<float>(min);
    for (int l = 0; l < 32; ++l) {
      y[32 * g + l] = dl * static_cast<float>(k_nibble(b + 16, g, l)) - ml;
    }
  }
}

// q5_K, 176 bytes: f16 d, f16 dmin, u8 scales[12], u8 qh[32] (bit g of qh[l]: 5th bit of
// element 32 * g + l), u8 qs[128] (low 4 bits, as in q4_K).  x = (d * scale) * q - (dmin * min)
void q5_K_block(const uint8_t* b, float* y) {
  const float d = load_f16(b), dmin = load_f16(b + 2);
  const uint8_t* qh = b + 16;
  for (int g = 0; g < 8; ++g) {
    int scale, min;
    k_scale_min(b + 4, g, scale, min);
    const float dl = d * static_cast<float>(scale);
    const float ml = dmin * static_cast<float>(min);
    for (int l = 0; l < 32; ++l) {
      const int q = k_nibble(b + 48, g, l) | ((qh[l] >> g) & 1) << 4;
      y[32 * g + l] = dl * static_cast<float>(q) - ml;
    }
  }
}

// q6_K, 210 bytes: u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits), i8 scales[16] (one per
// 16 elements), f16 d. Each half h of 128 elements uses ql[64 h ..] and qh[32 h ..]: element
// 128 h + 32 k + l (k < 4, l < 32) is nibble k / 2 of ql[64 h + 32 (k % 2) + l] plus bits 2 k
// of qh[32 h + l].  x = (d * scale) * (q - 32)
void q6_K_block(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const float d = load_f16(b + 208);
  for (int g = 0; g < 8; ++g) {
    const int h = g / 4, k = g % 4;
    for (int l = 0; l < 32; ++l) {
      const int low = (ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xF;
      const int high = (qh[32 * h + l] >> (2 * k)) & 3;
      const int e = 32 * g + l;
      const float dl = d * static_cast<float>(static_cast<int8_t>(b[192 + e / 16]));
      y[e] = dl * static_cast<float>((low | high << 4) - 32);
    }
  }
}

// q8_K, 292 bytes: f32 d, i8 qs[256], i16 bsums[16] (sums of 16 qs each, unused here).
// x = d * q
void q8_K_block(const uint8_t* b, float* y) {
  const float d = bits_to_float(load_u32(b));
  for (int j = 0; j < 256; ++j) y[j] = d * static_cast<float>(static_cast<int8_t>(b[4 + j]));
}

// iq4_xs, 136 bytes: f16 d, u16 scales_h, u8 scales_l[4], u8 qs[128]. Group g of 32 has a
// 6-bit scale biased by 32: low 4 bits in nibble g % 2 of scales_l[g / 2], high 2 bits in bits
// 2 g of scales_h. Its 32 indices into kIq4Values are in qs[16 g .. 16 g + 15], low nibbles
// first.  x = (d * (scale - 32)) * value
void iq4_xs_block(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint16_t scales_h = load_u16(b + 2);
  for (int g = 0; g < 8; ++g) {
    const int low = (b[4 + g / 2] >> (4 * (g % 2))) & 0xF;
    const int high = (scales_h >> (2 * g)) & 3;
    const float dl = d * static_cast<float>((low | high << 4) - 32);
    for (int j = 0; j < 32; ++j) {
      y[32 * g + j] = dl * static_cast<float>(kIq4Values[nibble(b + 8 + 16 * g, j)]);
    }
  }
}

// tq1_0, 54 bytes: u8 qs[48], u8 qh[4], f16 d. Ternary digits (0, 1, 2 for -1, 0, +1) packed
// five per byte as a base-3 fixed-point fraction: digit k of byte c is the top two bits of
// (c * 3^k mod 256) * 3. Elements 0-159 are digit e / 32 of qs[e % 32]; 160-239 digit
// (e - 160) / 16 of qs[32 + e % 16]; 240-255 digit (e - 240) / 4 of qh[e % 4].  x = d * (t - 1)
void tq1_0_block(const uint8_t* b, float* y) {
  constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const float d = load_f16(b + 52);
  for (int e = 0; e < 256; ++e) {
    uint8_t c;
    int k;
    if (e < 160) {
      c = b[e % 32];
      k = e / 32;
    } else if (e < 240) {
      c = b[32 + e % 16];
      k = (e - 160) / 16;
    } else {
      c = b[48 + e % 4];
      k = (e - 240) / 4;
    }
    const uint8_t shifted = static_cast<uint8_t>(c * kPow3[k]);
    y[e] = d * static_cast<float>(((shifted * 3) >> 8) - 1);
  }
}

// tq2_0, 66 bytes: u8 qs[64] (2-bit, 0..2 for -1..+1, laid out like q2_K), f16 d.
// x = d * (q - 1)
void tq2_0_block(const uint8_t* b, float* y) {
  const float d = load_f16(b + 64);
  for (int g = 0; g < 8; ++g) {
    for (int l = 0; l < 32; ++l) y[32 * g + l] = d * static_cast<float>(crumb(b, g, l) - 1);
  }
}

// ---- Dispatch -----------------------------------------------------------------------------

using BlockFn = void (*)(const uint8_t* block, float* out);

struct Format {
  DType dtype;
  BlockFn fn;
};

constexpr Format kFormats[] = {
    {DType::f32, f32_block},       {DType::f16, f16_block},       {DType::bf16, bf16_block},
    {DType::q4_0, q4_0_block},     {DType::q4_1, q4_1_block},     {DType::q5_0, q5_0_block},
    {DType::q5_1, q5_1_block},     {DType::q8_0, q8_0_block},     {DType::q8_1, q8_1_block},
    {DType::q2_K, q2_K_block},     {DType::q3_K, q3_K_block},     {DType::q4_K, q4_K_block},
    {DType::q5_K, q5_K_block},     {DType::q6_K, q6_K_block},     {DType::q8_K, q8_K_block},
    {DType::iq4_nl, iq4_nl_block}, {DType::iq4_xs, iq4_xs_block}, {DType::tq1_0, tq1_0_block},
    {DType::tq2_0, tq2_0_block},   {DType::mxfp4, mxfp4_block},   {DType::nvfp4, nvfp4_block},
};

BlockFn find_block_fn(DType dtype) {
  for (const Format& format : kFormats) {
    if (format.dtype == dtype) return format.fn;
  }
  return nullptr;
}

}  // namespace

bool can_dequantize(DType dtype) { return find_block_fn(dtype) != nullptr; }

void dequantize(DType dtype, std::span<const uint8_t> src, std::span<float> dst) {
  const BlockFn fn = find_block_fn(dtype);
  if (fn == nullptr) {
    user_error("cannot dequantize tensor data of type {}: kiln does not support this type yet",
               dtype_name(dtype));
  }
  const DTypeInfo& info = dtype_info(dtype);
  const std::optional<uint64_t> bytes = dtype_row_bytes(dtype, dst.size());
  if (!bytes) {
    user_error("cannot dequantize {} elements of type {}: not a whole number of {}-element blocks",
               dst.size(), info.name, info.block_size);
  }
  if (*bytes != src.size()) {
    user_error("cannot dequantize {} elements of type {}: they take {} bytes, but {} were given",
               dst.size(), info.name, *bytes, src.size());
  }
  const size_t blocks = dst.size() / info.block_size;
  for (size_t i = 0; i < blocks; ++i) {
    fn(src.data() + i * info.block_bytes, dst.data() + i * info.block_size);
  }
}

}  // namespace kiln
