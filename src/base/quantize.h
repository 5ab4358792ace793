// Scalar quantization of float32 to ggml's element types: what `kiln quantize` writes. The
// inverse of dequantize.h for the formats it supports, with ggml's reference rounding, so a
// file kiln writes reads back in llama.cpp (and in the `gguf` Python package) as the same values.
#pragma once

#include <cstdint>
#include <span>

#include "base/dtype.h"

namespace kiln {

// True if quantize() can write this dtype: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q4_K, q6_K.
// (q4_K and q6_K round their group scales up, so that every value is within half a step of
// its group; not llama.cpp's iterative fit of the scales, which trades that bound for a
// smaller mean error.)
bool can_quantize(DType dtype);

// Quantizes src (a whole number of the dtype's blocks) into dst, which must hold exactly
// dtype_row_bytes(dtype, src.size()) bytes; otherwise, or for an unsupported dtype, UserError.
void quantize(DType dtype, std::span<const float> src, std::span<uint8_t> dst);

}  // namespace kiln
