// Block layouts are ggml's (see src/base/dequantize.cpp, which has the same one function per
// format). Each function below returns element `j` (i64, 0 <= j < block size) of one block as
// an f32 expression; byte arithmetic is done in i32, index arithmetic in i64.
#include "kernel/compute/dequant_expr.h"

#include <cstdint>
#include <utility>

#include "base/error.h"
#include "base/row_interleave.h"

namespace kiln::kernel {
namespace {

using ir::Expr;
using ir::Type;

Expr to_i32(Expr e) { return ir::cast(Type::i32(), std::move(e)); }
Expr to_f32(Expr e) { return ir::cast(Type::f32(), std::move(e)); }

// `offset` as a constant plus the rest (an Add tree's constants summed; rest 0 if none).
std::pair<Expr, int64_t> split_constant(const Expr& offset) {
  if (const int64_t* c = ir::as_const_int(offset)) return {ir::i64(0), *c};
  if (const auto* add = offset.as<ir::Binary>(); add && add->op == ir::BinaryOp::Add) {
    auto [ra, ca] = split_constant(add->a);
    auto [rb, cb] = split_constant(add->b);
    const bool a_zero = ir::as_const_int(ra) != nullptr, b_zero = ir::as_const_int(rb) != nullptr;
    return {a_zero ? rb : b_zero ? ra : ra + rb, ca + cb};
  }
  return {offset, 0};
}

// The bytes of one block of a quantized tensor: u8 loads at `base + offset`. With rows
// interleaved (base/row_interleave.h, `lanes` > 1), `base` is the group of `lanes` blocks and
// byte `offset` of lane `lane`'s block lies where interleaved_offset puts it; the field is the
// one holding the offset's constant part (every offset below is a field's start, or a byte
// inside it, plus a non-negative rest that stays in that field).
struct Block {
  std::string buffer;
  Expr base;  // i64 byte offset of the block (interleaved: of its group) in the buffer
  DType dtype = DType::f32;
  int64_t lanes = 1;
  Expr lane;

  Expr address(Expr offset) const {
    if (lanes == 1) {
      const int64_t* constant = ir::as_const_int(offset);
      return constant && *constant == 0 ? base : base + std::move(offset);
    }
    const auto [rest, constant] = split_constant(offset);
    const BlockField& f = field_at(dtype, constant);
    const Expr inner = rest + (constant - f.offset);
    return base + (f.offset * lanes) + (inner / f.unit * lanes + lane) * f.unit + inner % f.unit;
  }
  Expr u8(Expr offset) const { return ir::Load::make(Type::u8(), buffer, address(std::move(offset))); }
  // A byte as an unsigned value in i32.
  Expr byte(Expr offset) const { return to_i32(u8(std::move(offset))); }
  // A byte as a signed (two's complement) value in i32.
  Expr signed_byte(Expr offset) const { return to_i32(ir::reinterpret(Type::i8(), u8(std::move(offset)))); }
  // The little-endian IEEE half at `offset`, as f32.
  Expr f16(int64_t offset) const {
    if (lanes > 1) {
      // Interleaved: the halves of consecutive lanes are adjacent, one vector load for all.
      const Expr bits = ir::Load::make(Type::u8(), buffer, ir::Ramp::make(address(offset), 1, 2));
      return ir::call(ir::Intrinsic::F16BitsToF32, {ir::reinterpret(Type::u16(), bits)});
    }
    Expr lo = ir::cast(Type::u16(), u8(offset));
    Expr hi = ir::cast(Type::u16(), u8(offset + 1));
    return ir::call(ir::Intrinsic::F16BitsToF32, {lo | (hi << 8)});
  }
  // `width` bits of the byte at `offset`, starting at bit `shift` (an i64 expression).
  Expr bits(Expr offset, Expr shift, int width) const {
    return (byte(std::move(offset)) >> to_i32(std::move(shift))) & ((1 << width) - 1);
  }
};

// ---- 32-element formats ------------------------------------------------------------------
// In the 4- and 5-bit ones, byte qs[j % 16] holds element j in its low nibble (j < 16) or its
// high nibble (j >= 16).

Expr low_nibbles_first(const Block& b, int64_t qs, const Expr& j) { return b.bits(qs + j % 16, j / 16 * 4, 4); }

// q4_0, 18 bytes: f16 d, u8 qs[16].  x = d * (q - 8)
Expr q4_0(const Block& b, const Expr& j) {
  Expr q = low_nibbles_first(b, 2, j);
  return b.f16(0) * to_f32(q - 8);
}

// q4_1, 20 bytes: f16 d, f16 m, u8 qs[16].  x = d * q + m
Expr q4_1(const Block& b, const Expr& j) {
  Expr q = low_nibbles_first(b, 4, j);
  return b.f16(0) * to_f32(q) + b.f16(2);
}

// q5_0, 22 bytes: f16 d, u32 qh (bit j: 5th bit of element j), u8 qs[16].  x = d * (q - 16)
Expr q5_0(const Block& b, const Expr& j) {
  Expr q = low_nibbles_first(b, 6, j) | b.bits(2 + j / 8, j % 8, 1) << 4;
  return b.f16(0) * to_f32(q - 16);
}

// q5_1, 24 bytes: f16 d, f16 m, u32 qh, u8 qs[16].  x = d * q + m
Expr q5_1(const Block& b, const Expr& j) {
  Expr q = low_nibbles_first(b, 8, j) | b.bits(4 + j / 8, j % 8, 1) << 4;
  return b.f16(0) * to_f32(q) + b.f16(2);
}

// q8_0, 34 bytes: f16 d, i8 qs[32].  x = d * q
Expr q8_0(const Block& b, const Expr& j) { return b.f16(0) * to_f32(b.signed_byte(2 + j)); }

// ---- 256-element "K" formats -------------------------------------------------------------
// Element j = 32 g + l lies in group g (< 8) at lane l (< 32).

// 2-bit fields: byte qs[(g / 4) * 32 + l] holds element 32 g + l in bits 2 (g % 4) and up.
Expr crumb(const Block& b, int64_t qs, const Expr& g, const Expr& l) {
  return b.bits(qs + g / 4 * 32 + l, g % 4 * 2, 2);
}

// q2_K, 84 bytes: u8 scales[16] (per 16 elements: low nibble scale, high nibble min),
// u8 qs[64] (2-bit), f16 d, f16 dmin.  x = (d * scale) * q - (dmin * min)
Expr q2_K(const Block& b, const Expr& j) {
  Expr sc = b.byte(j / 16);
  Expr dl = b.f16(80) * to_f32(sc & 15);
  Expr ml = b.f16(82) * to_f32(sc >> 4);
  return dl * to_f32(crumb(b, 16, j / 32, j % 32)) - ml;
}

// q3_K, 110 bytes: u8 hmask[32] (bit g of hmask[l]: high bit of element 32 g + l),
// u8 qs[64] (low 2 bits), u8 scales[12] (sixteen 6-bit scales biased by 32, one per 16
// elements), f16 d. Scale s: low 4 bits are nibble s / 8 of scales[s % 8], high 2 bits are
// bits 2 (s / 4) of scales[8 + s % 4]. q = low2 - (high bit clear ? 4 : 0).
// x = (d * (scale - 32)) * q
Expr q3_K(const Block& b, const Expr& j) {
  const Expr g = j / 32, l = j % 32, s = j / 16;
  Expr scale = b.bits(96 + s % 8, s / 8 * 4, 4) | b.bits(104 + s % 4, s / 4 * 2, 2) << 4;
  Expr dl = b.f16(108) * to_f32(scale - 32);
  Expr low = crumb(b, 32, g, l);
  Expr q = ir::select(b.bits(l, g, 1) == 0, low - 4, low);
  return dl * to_f32(q);
}

// The 12 packed scale bytes of q4_K and q5_K at `at`: eight 6-bit scales and eight 6-bit mins,
// one pair per group of 32. Groups 0-3: scale = bytes[g] & 63, min = bytes[g + 4] & 63.
// Groups 4-7 take their low 4 bits from the nibbles of bytes[g + 4] and their high 2 bits from
// the top bits of bytes[g - 4] (scale) and bytes[g] (min). (Both sides of a select are read,
// so the g < 4 side indexes bytes[g % 4] rather than bytes[g - 4].)
Expr k_scale(const Block& b, int64_t at, const Expr& g) {
  return ir::select(g < 4, b.byte(at + g) & 63, (b.byte(at + g + 4) & 15) | (b.byte(at + g % 4) >> 6) << 4);
}
Expr k_min(const Block& b, int64_t at, const Expr& g) {
  return ir::select(g < 4, b.byte(at + g + 4) & 63, (b.byte(at + g + 4) >> 4) | (b.byte(at + g) >> 6) << 4);
}

// In q4_K and q5_K, byte qs[(g / 2) * 32 + l] holds element 32 g + l in nibble g % 2.
Expr k_nibble(const Block& b, int64_t qs, const Expr& g, const Expr& l) { return b.bits(qs + g / 2 * 32 + l, g % 2 * 4, 4); }

// q4_K, 144 bytes: f16 d, f16 dmin, u8 scales[12], u8 qs[128] (4-bit).
// x = (d * scale) * q - (dmin * min)
Expr q4_K(const Block& b, const Expr& j) {
  const Expr g = j / 32, l = j % 32;
  Expr dl = b.f16(0) * to_f32(k_scale(b, 4, g));
  Expr ml = b.f16(2) * to_f32(k_min(b, 4, g));
  return dl * to_f32(k_nibble(b, 16, g, l)) - ml;
}

// q5_K, 176 bytes: f16 d, f16 dmin, u8 scales[12], u8 qh[32] (bit g of qh[l]: 5th bit of
// element 32 g + l), u8 qs[128] (low 4 bits, as in q4_K).  x = (d * scale) * q - (dmin * min)
Expr q5_K(const Block& b, const Expr& j) {
  const Expr g = j / 32, l = j % 32;
  Expr dl = b.f16(0) * to_f32(k_scale(b, 4, g));
  Expr ml = b.f16(2) * to_f32(k_min(b, 4, g));
  Expr q = k_nibble(b, 48, g, l) | b.bits(16 + l, g, 1) << 4;
  return dl * to_f32(q) - ml;
}

// q6_K, 210 bytes: u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits), i8 scales[16] (one per
// 16 elements), f16 d. Each half h of 128 elements uses ql[64 h ..] and qh[32 h ..]: element
// 128 h + 32 k + l (k < 4, l < 32) is nibble k / 2 of ql[64 h + 32 (k % 2) + l] plus bits 2 k
// of qh[32 h + l].  x = (d * scale) * (q - 32)
Expr q6_K(const Block& b, const Expr& j) {
  const Expr h = j / 128, k = j / 32 % 4, l = j % 32;
  Expr low = b.bits(h * 64 + k % 2 * 32 + l, k / 2 * 4, 4);
  Expr high = b.bits(128 + h * 32 + l, k * 2, 2);
  Expr dl = b.f16(208) * to_f32(b.signed_byte(192 + j / 16));
  return dl * to_f32((low | high << 4) - 32);
}

using BlockFormat = Expr (*)(const Block& block, const Expr& j);

BlockFormat find_block_format(DType dtype) {
  switch (dtype) {
    case DType::q4_0: return q4_0;
    case DType::q4_1: return q4_1;
    case DType::q5_0: return q5_0;
    case DType::q5_1: return q5_1;
    case DType::q8_0: return q8_0;
    case DType::q2_K: return q2_K;
    case DType::q3_K: return q3_K;
    case DType::q4_K: return q4_K;
    case DType::q5_K: return q5_K;
    case DType::q6_K: return q6_K;
    default: return nullptr;
  }
}

bool is_plain(DType dtype) {
  switch (dtype) {
    case DType::f32: case DType::f16: case DType::bf16:
    case DType::i8: case DType::i16: case DType::i32: case DType::i64:
      return true;
    default:
      return false;
  }
}

// Row-major flat index of `indices` (the first `count` of them) within `shape`.
Expr flat_index(const std::vector<Expr>& shape, const std::vector<Expr>& indices, size_t count) {
  Expr flat = ir::i64(0);
  for (size_t d = 0; d < count; ++d) flat = d == 0 ? indices[0] : flat * shape[d] + indices[d];
  return flat;
}

}  // namespace

bool can_load_element(DType dtype) { return is_plain(dtype) || find_block_format(dtype) != nullptr; }

Expr load_element(const TensorDecl& t, const std::vector<Expr>& indices) {
  KILN_CHECK(indices.size() == t.shape.size(), "{} has {} dimensions, accessed with {} indices", t.name,
             t.shape.size(), indices.size());
  for (const Expr& i : indices) KILN_CHECK(i.type() == Type::i64(), "index of {} is {}", t.name, ir::to_string(i.type()));
  KILN_CHECK(t.row_interleave == 1, "element reads of {} with rows interleaved are not written yet", t.name);
  if (const BlockFormat format = find_block_format(t.dtype)) {
    KILN_CHECK(!t.shape.empty(), "block-quantized tensor {} has no dimensions", t.name);
    const DTypeInfo& info = dtype_info(t.dtype);
    const int64_t block_size = info.block_size, block_bytes = info.block_bytes;
    // Blocks run along the innermost dimension, so a row holds cols / block_size whole blocks.
    const size_t inner = t.shape.size() - 1;
    const Expr& col = indices[inner];
    Expr block = col / block_size;
    if (inner > 0) block = flat_index(t.shape, indices, inner) * (t.shape[inner] / block_size) + block;
    return format(Block{t.name, block * block_bytes}, col % block_size);
  }
  KILN_CHECK(is_plain(t.dtype), "no load_element for dtype {} (tensor {})", dtype_name(t.dtype), t.name);
  const Expr bits = ir::Load::make(storage_type(t.dtype), t.name, flat_index(t.shape, indices, indices.size()));
  switch (t.dtype) {
    case DType::f16: return ir::call(ir::Intrinsic::F16BitsToF32, {bits});
    case DType::bf16: return ir::reinterpret(Type::f32(), ir::cast(Type::u32(), bits) << 16);
    default: return bits;
  }
}

namespace {

// Bytes offset .. offset + 3 of a block as the packed bytes of an i32.
Expr quad(const Block& b, const Expr& offset) {
  const Expr bytes = ir::Load::make(Type::u8(), b.buffer, ir::Ramp::make(b.address(offset), 1, 4));
  return ir::reinterpret(Type::i32(), bytes);
}

// In the 4- and 5-bit formats byte qs[p] holds element p (low nibble) and p + 16 (high): quad
// 4 half + q is nibble `half` of bytes 4 q .. 4 q + 3.
Expr nibble_quad(const Block& b, int64_t qs, const Expr& half, const Expr& q) {
  return (quad(b, qs + q * 4) >> to_i32(half * 4)) & 0x0F0F0F0F;
}

// The fifth bits of elements 4 g .. 4 g + 3, each moved to bit 4 of its byte: qh (an i32 at
// `at`) holds element e's in bit e. Multiplying the four bits by 1 + 2^7 + 2^14 + 2^21 puts
// copies of them at disjoint places (no carries), among them bit k at 8 k.
Expr fifth_bits(const Block& b, int64_t at, const Expr& g) {
  const Expr four = (quad(b, at) >> to_i32(g * 4)) & 15;
  return ((four * 0x00204081) & 0x01010101) << 4;
}

}  // namespace

bool can_pack_quads(DType dtype) {
  switch (dtype) {
    case DType::q4_0: case DType::q4_1: case DType::q5_0: case DType::q5_1: case DType::q8_0:
    case DType::q4_K: case DType::q5_K: case DType::q6_K:
      return true;
    default:
      return false;
  }
}

PackedQuads packed_quads(const TensorDecl& w, const Expr& row, const Expr& group, const Expr& half, const Expr& q) {
  const Expr g = half * 4 + q;
  KILN_CHECK(can_pack_quads(w.dtype) && w.shape.size() == 2, "no packed quads of {} tensor {}", dtype_name(w.dtype), w.name);
  const DTypeInfo& info = dtype_info(w.dtype);
  const int64_t groups_per_block = info.block_size / 32;
  const int64_t block_size = info.block_size, block_bytes = info.block_bytes;
  const Expr blocks_per_row = w.shape[1] / block_size, block_in_row = group / groups_per_block;
  Block b{w.name, (row * blocks_per_row + block_in_row) * block_bytes};
  if (w.row_interleave > 1) {
    const int64_t lanes = w.row_interleave;
    b = Block{w.name, (row / lanes * blocks_per_row + block_in_row) * (block_bytes * lanes), w.dtype, lanes,
              row % lanes};
  }
  switch (w.dtype) {
    case DType::q4_0: return {nibble_quad(b, 2, half, q), b.f16(0), b.f16(0) * -8.0, false};
    case DType::q4_1: return {nibble_quad(b, 4, half, q), b.f16(0), b.f16(2), false};
    case DType::q5_0: return {nibble_quad(b, 6, half, q) | fifth_bits(b, 2, g), b.f16(0), b.f16(0) * -16.0, false};
    case DType::q5_1: return {nibble_quad(b, 8, half, q) | fifth_bits(b, 4, g), b.f16(0), b.f16(2), false};
    case DType::q8_0: return {quad(b, 2 + g * 4), b.f16(0), Expr(), true};
    case DType::q4_K: case DType::q5_K: {
      // Group k of the block: its 32 elements are nibble k % 2 of bytes qs[(k / 2) * 32 ..].
      const Expr k = group % groups_per_block;
      const int64_t qs = w.dtype == DType::q4_K ? 16 : 48;
      Expr quads = (quad(b, qs + k / 2 * 32 + g * 4) >> to_i32(k % 2 * 4)) & 0x0F0F0F0F;
      // q5_K: bit k of qh[l] (bytes 16..47) is the fifth bit of element 32 k + l.
      if (w.dtype == DType::q5_K) quads = quads | (((quad(b, 16 + g * 4) >> to_i32(k)) & 0x01010101) << 4);
      return {quads, b.f16(0) * to_f32(k_scale(b, 4, k)), -(b.f16(2) * to_f32(k_min(b, 4, k))), false};
    }
    case DType::q6_K: {
      // Group G = 4 h' + k of the block (h' < 2, k < 4): element l < 32 is nibble k / 2 of
      // ql[64 h' + 32 (k % 2) + l] plus bits 2 k of qh[32 h' + l] (at 128) as bits 4-5; the
      // scale is scales[8 h' + 2 k + l / 16] (signed, at 192), so the group's two halves of
      // 16 (`half`) have a scale and an offset each.
      const Expr G = group % groups_per_block, hp = G / 4, k = G % 4;
      const Expr low = (quad(b, hp * 64 + k % 2 * 32 + g * 4) >> to_i32(k / 2 * 4)) & 0x0F0F0F0F;
      const Expr high = ((quad(b, 128 + hp * 32 + g * 4) >> to_i32(k * 2)) & 0x03030303) << 4;
      const Expr scale = b.f16(208) * to_f32(b.signed_byte(192 + hp * 8 + k * 2 + half));
      return {low | high, scale, scale * -32.0, false, true};
    }
    default: break;
  }
  KILN_UNREACHABLE("packed quads of {}", dtype_name(w.dtype));
}

bool can_encode_element(DType dtype) { return is_plain(dtype); }

Expr encode_element(DType dtype, Expr value) {
  KILN_CHECK(is_plain(dtype), "no encode_element for dtype {}", dtype_name(dtype));
  if (dtype != DType::f16 && dtype != DType::bf16) return ir::cast(storage_type(dtype), std::move(value));
  KILN_CHECK(value.type() == Type::f32(), "encode_element {} of a {}", dtype_name(dtype), ir::to_string(value.type()));
  const Expr bits = ir::reinterpret(Type::u32(), value);
  const Expr abs = bits & 0x7fffffff;
  const auto u32 = [](int64_t v) { return ir::IntImm::make(Type::u32(), v); };
  Expr result;
  if (dtype == DType::bf16) {
    // Round to nearest even on the low 16 bits; a NaN keeps its sign and becomes quiet.
    Expr rounded = (bits + (u32(0x7fff) + ((bits >> 16) & 1))) >> 16;
    result = ir::select(abs > 0x7f800000, (bits >> 16) | 0x40, rounded);
  } else {
    // base/half.h's f32_to_f16, branch for branch.
    const Expr sign = (bits >> 16) & 0x8000;
    // Subnormal or zero halves: adding 0.5 makes the FPU round the value into the low bits.
    Expr subnormal = ir::reinterpret(Type::u32(), ir::reinterpret(Type::f32(), abs) + 0.5) - u32(0x3f000000);
    // Normal halves: rebias the exponent by -112 << 23 (mod 2^32) and round to nearest even.
    Expr normal = (abs + u32(0xc8000fff) + ((abs >> 13) & 1)) >> 13;
    result = sign | ir::select(abs > 0x7f800000, u32(0x7e00),
                               ir::select(abs >= 0x477ff000, u32(0x7c00),
                                          ir::select(abs < 0x38800000, subnormal, normal)));
  }
  return ir::cast(Type::u16(), result);
}

}  // namespace kiln::kernel
