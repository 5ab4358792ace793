// float64 scalar references of every operator in src/kernel/compute/ops.h, written as plain
// loops, independently of the compute definitions, with the same argument conventions
// (row-major tensors, the same size names, the same attributes). Inputs are exact values: a
// quantized weight is dequantized (base/dequantize.h) before it gets here. Results are the
// exact (float64) values, except where an op's result is itself a rounding into a dtype
// (convert, kv_write), which is rounded here independently of half.h.
#pragma once

#include <cstdint>
#include <vector>

#include "base/dtype.h"
#include "kernel/compute/compute_def.h"
#include "kernel/compute/ops.h"

namespace kiln::test::ref {

using Values = std::vector<double>;
using Shape = std::vector<int64_t>;

double unary(kernel::ops::Unary op, double x, double attr);
Values unary(kernel::ops::Unary op, const Values& x, double attr);
// a: shape; b: shape with extent 1 where b_broadcast is true.
Values binary(kernel::ops::Binary op, const Shape& shape, const std::vector<bool>& b_broadcast, const Values& a,
              const Values& b);
// Rounds each value to the nearest value of `to` (ties to even; f16/bf16 overflow to inf,
// NaN stays NaN), or truncates toward zero for integer dtypes.
Values convert(DType to, const Values& x);
double round_to_dtype(DType to, double x);

// x [m, k], w [n, k] -> [m, n]
Values matmul(int64_t m, int64_t n, int64_t k, const Values& x, const Values& w);
// w [vocab, dim], ids [n] (clamped into [0, vocab)) -> [n, dim]
Values embedding(int64_t n, int64_t vocab, int64_t dim, const Values& w, const Values& ids);

Values rms_norm(int64_t rows, int64_t cols, double eps, const Values& x);
Values layer_norm(int64_t rows, int64_t cols, double eps, const Values& x);
// mask empty: none.
Values softmax(int64_t rows, int64_t cols, double scale, const Values& x, const Values& mask);

// [rows, cols] -> [rows]
Values reduce(kernel::ReduceKind kind, bool mean, int64_t rows, int64_t cols, const Values& x);
Values argmax(int64_t rows, int64_t cols, const Values& x);

// x [t, h, d], pos [t], freq_factors [n_dims / 2] or empty.
Values rope(kernel::ops::RopeMode mode, int n_dims, double theta, double freq_scale, int64_t t, int64_t h, int64_t d,
            const Values& x, const Values& pos, const Values& freq_factors);

// q [t, h, d], k and v [s, kh, d] -> [t, h, d]
Values attention(double scale, double softcap, bool causal, int64_t window, int64_t t, int64_t h, int64_t kh,
                 int64_t d, int64_t s, const Values& q, const Values& k, const Values& v);

// Views. permute: out.shape[k] = shape[perm[k]].
Values permute(const Shape& shape, const std::vector<int>& perm, const Values& x);
Values slice(const Shape& shape, int axis, int64_t start, int64_t length, const Values& x);
// a and b of shapes equal but along `axis`.
Values concat(const Shape& a_shape, const Shape& b_shape, int axis, const Values& a, const Values& b);

}  // namespace kiln::test::ref
