// How a tensor's elements are read from and written to its buffer, as loop-IR expressions:
// the one place where each dtype's storage, including every block-quantized format's
// dequantization, is written down (DESIGN.md section 3). Lowering replaces each ir::Access of
// a tensor by load_element, and stores each output element through encode_element; every back
// end gets the formats from here.
//
// The values are bit-identical to src/base/dequantize.cpp's: the same float32 operations on the
// same exactly-representable operands.
#pragma once

#include <vector>

#include "kernel/compute/compute_def.h"

namespace kiln::kernel {

// True if load_element can read tensors of this dtype: f32, f16, bf16, i8, i16, i32, i64,
// q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, q3_K, q4_K, q5_K, q6_K.
bool can_load_element(DType dtype);

// The value (of type value_type(t.dtype)) of element `indices` (i64, row-major, outermost
// first) of tensor `t`, as loads from the buffer named t.name whose elements are
// storage_type(t.dtype):
//   f32, i8..i64: one load;  f16: f16_bits_to_f32 of a u16 load;
//   bf16: reinterpret<f32>(u32(bits) << 16);
//   block formats: loads of u8 bytes (an f16 scale assembled as u16(lo) | u16(hi) << 8), blocks
//   running along the innermost dimension, whose extent must be a multiple of the block size.
ir::Expr load_element(const TensorDecl& t, const std::vector<ir::Expr>& indices);

// A weight's elements in the form an integer dot product takes them: four consecutive
// elements 4 g .. 4 g + 3 of a 32-element group as the packed bytes of an i32 (`quads`,
// unsigned bytes of at most 63, or signed bytes with `signed_quads`), and the affine map of
// the quad's elements to values: element = scale * byte + offset (`offset` undefined: none).
// The map is the whole group's, or with `offset_per_half` each 16-element half's own.
struct PackedQuads {
  ir::Expr quads;
  ir::Expr scale;
  ir::Expr offset;
  bool signed_quads = false;
  bool offset_per_half = false;
};

// True if packed_quads can read this dtype: q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K (scales
// per 32 elements) and q6_K (per 16).
bool can_pack_quads(DType dtype);

// Packed quad g = 4 half + q (half < 2, q < 4) of 32-element group `group` of row `row` of the
// 2-D weight `w`. The bytes are read as one u8x4 load per quad, so a vectorized q reads a
// whole vector; the halves are the nibbles of the 4- and 5-bit formats' 16 bytes.
PackedQuads packed_quads(const TensorDecl& w, const ir::Expr& row, const ir::Expr& group, const ir::Expr& half,
                         const ir::Expr& q);

// True if encode_element can write this dtype: f32, f16, bf16, i8, i16, i32, i64.
bool can_encode_element(DType dtype);

// The storage_type(dtype) value to store for element value `value` (of type
// value_type(dtype)): f16 and bf16 round to nearest even (as base/half.h does, NaN kept quiet),
// the others store the value itself. Block formats cannot be written element by element.
ir::Expr encode_element(DType dtype, ir::Expr value);

}  // namespace kiln::kernel
