// Scalar dequantization of ggml's element types to float32.
//
// This is the reference path: plain, portable, one block at a time. It is what loaders use for
// small tensors (norms, biases) and what tests compare the compiled kernels against. The results
// are bit-identical to the `gguf` Python package's `gguf.quants.dequantize` for every format it
// has (all but q8_1 and q8_K); see scripts/make_dequant_goldens.py and
// tests/base/dequantize_test.cpp.
#pragma once

#include <cstdint>
#include <span>

#include "base/dtype.h"

namespace kiln {

// True if dequantize() supports this dtype: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1,
// q2_K, q3_K, q4_K, q5_K, q6_K, q8_K, iq4_nl, iq4_xs, tq1_0, tq2_0, mxfp4 and nvfp4.
bool can_dequantize(DType dtype);

// Dequantizes dst.size() elements of `dtype` stored in `src` to float32.
// src.size() must equal dtype_row_bytes(dtype, dst.size()) (so dst.size() is a whole number of
// blocks); otherwise, or for an unsupported dtype, throws UserError.
void dequantize(DType dtype, std::span<const uint8_t> src, std::span<float> dst);

}  // namespace kiln
