// Compute definitions of kiln's operators (DESIGN.md section 3's op set): one function per op
// that builds its ComputeDef for given dtypes, ranks and attributes. Sizes are symbolic: i64
// Vars listed in ComputeDef::size_params, which a caller binds (to graph shape expressions or
// numbers) when it lowers the definition.
//
// Conventions shared by every op here:
// - Tensors are row-major, outermost dimension first. Inputs are named as below; the result is
//   `out` (kv_write's is `cache`). Activations are f32 unless a dtype parameter says otherwise;
//   weights and the KV cache may be of any dtype that load_element reads.
// - Reading a tensor of another dtype is an ir::Access of its value type (f32 for floats and
//   quantized formats); lowering expands it with load_element (dequant_expr.h). A stage's
//   `type` is value_type() of the tensor it defines, and lowering stores an output element
//   through encode_element.
// - No definition reads out of bounds for any valid size binding: both sides of a select are
//   evaluated, so the indices of an unselected side are clamped into range.
// - Multi-stage ops are written as separate stages (a sum, then what uses it) so a schedule can
//   place each one; stages that are not outputs are temporaries.
// Preconditions on the sizes (a block-quantized weight's row length is a multiple of its block
// size, a concat's parts are not empty, ...) are stated per op; the caller checks them.
#pragma once

#include <cstdint>
#include <vector>

#include "kernel/compute/compute_def.h"

namespace kiln::kernel::ops {

// ---- Elementwise (elementwise.cpp) --------------------------------------------------------
// Over x: f32[d0, ..., d{rank-1}] -> out: f32 of the same shape, axes i0, i1, ...

enum class Unary : uint8_t {
  Silu,      // x / (1 + exp(-x))
  Gelu,      // 0.5 x (1 + erf(x / sqrt(2)))
  GeluTanh,  // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
  Exp,
  Tanh,
  Neg,
  Rsqrt,
  Scale,     // x * attr
  Softcap,   // attr * tanh(x / attr)
};
const char* unary_name(Unary op);
// The f32 expression op(x); what unary() applies, and what fusion can compose.
ir::Expr unary_expr(Unary op, ir::Expr x, double attr = 0);
ComputeDef unary(Unary op, int rank, double attr = 0);

enum class Binary : uint8_t { Add, Sub, Mul, Div };
const char* binary_name(Binary op);
ir::Expr binary_expr(Binary op, ir::Expr a, ir::Expr b);
// out = a op b with a: f32[d0, ...]; b has the same rank and extent 1 along each dimension
// where b_broadcast is true (empty: no broadcast), where it is read at index 0.
ComputeDef binary(Binary op, int rank, const std::vector<bool>& b_broadcast = {});

// The graph's `cast`: x of dtype `from` -> out of dtype `to`, element by element. Floats to
// integers truncate toward zero; f16/bf16 results round to nearest even.
ComputeDef convert(DType from, DType to, int rank);

// ---- Contractions (matmul.cpp) ------------------------------------------------------------

// out(i, j) = sum[r < k] x(i, r) * w(j, r): x f32[m, k], w[n, k] of dtype `weight` (k a
// multiple of its block size) -> out f32[m, n]. Sizes m, n, k.
ComputeDef matmul(DType weight);

// The 8-bit activation path (int8_matmul.cpp). An activation row of k is quantized in groups
// of kQ8Group elements to kQ8Words i32 words each: 8 words of four signed bytes (elements in
// order, each round(x * 127 / amax) in [-127, 127]), the group's scale amax / 127 as f32 bits,
// that scale times the sum of its 32 bytes, as f32 bits (a weight format's offset multiplies
// it), and the scale times the sum of each 16-byte half (q6_K's offsets are per half).
inline constexpr int64_t kQ8Group = 32;
inline constexpr int64_t kQ8ScaleWord = 8;
inline constexpr int64_t kQ8SumWord = 9;
inline constexpr int64_t kQ8HalfSumWord = 10;  // and 11 for the second half
inline constexpr int64_t kQ8Words = 12;
// x f32[m, k] -> xq i32[m, k / 32, 12]. Sizes m, k (a multiple of 32).
ComputeDef quantize_activations();
// out(i, j) = sum over groups b and words 4 h + q of the integer dot product of w's and xq's bytes,
// times the two scales (plus w's offset times the sum of xq's bytes): xq i32[m, k / 32, 12],
// w[n, k] of a dtype can_pack_quads takes -> out f32[m, n]. Sizes m, n, k. With
// `row_interleave` > 1, w's rows are interleaved in groups of that many (base/row_interleave.h;
// n a multiple of it), so that a vector over weight rows reads its bytes with one load.
ComputeDef matmul_int8(DType weight, int64_t row_interleave = 1);
// matmul(weight) through the 8-bit path, inputs and output as matmul's (x f32[m, k], w[n, k]
// -> out f32[m, n]): quantize_q8's stages, then matmul_int8 reading their result (a scratch
// buffer between the two kernels).
ComputeDef matmul_int8_activations(DType weight, int64_t row_interleave = 1);

// out(i, j) = w(ids(i), j): w[vocab, dim] of dtype `weight`, ids i32[n] -> out f32[n, dim].
// An id outside [0, vocab) is clamped into it. Sizes n, vocab, dim.
ComputeDef embedding(DType weight);

// ---- Normalizations (normalization.cpp), over the last dimension of x f32[rows, cols] ------

// ss(i) = sum[k] x(i, k)^2; out(i, j) = x(i, j) * rsqrt(ss(i) / cols + eps).
ComputeDef rms_norm(double eps);
// xsum(i) = sum[k] x(i, k); mean = xsum / cols; dev(i) = sum[k] (x(i, k) - mean)^2;
// out(i, j) = (x(i, j) - mean) * rsqrt(dev(i) / cols + eps).
ComputeDef layer_norm(double eps);
// y = x * scale (+ mask(i, j), mask[rows, cols] of dtype `mask` (f32 or f16), when with_mask);
// mx(i) = max[k] y; sum(i) = sum[k] exp(y - mx); out = exp(y - mx) / sum.
ComputeDef softmax(double scale, bool with_mask, DType mask = DType::f32);

// ---- Reductions (reduction.cpp): x f32[rows, cols] -> out[rows, 1] ---------------------------

// Sum, Max or Min over each row; with `mean` (Sum only) divided by cols.
ComputeDef reduce(ReduceKind kind, bool mean = false);
// out i32[rows, 1]: the first column holding the row's maximum.
ComputeDef argmax();

// ---- Rotary position embedding (rope.cpp) ------------------------------------------------

enum class RopeMode : uint8_t {
  Normal,  // rotates pairs (2p, 2p + 1)
  Neox,    // rotates pairs (p, p + n_dims / 2)
};
// x f32[t, h, d], pos i32[t] (and freq_factors f32[n_dims / 2] when with_freq_factors) ->
// out f32[t, h, d]. Pair p turns by pos * freq_scale * theta^(-2p / n_dims) / freq_factors(p);
// dimensions from n_dims on pass through. n_dims is even and at most d. Sizes t, h, d.
ComputeDef rope(RopeMode mode, int n_dims, double theta, double freq_scale, bool with_freq_factors);

// ---- Attention (attention.cpp) -----------------------------------------------------------

// q f32[t, h, d], k and v [s, kh, d] of dtype `kv` -> out f32[t, h, d]; query head b reads kv
// head b / (h / kh) (grouped-query attention, h a multiple of kh). Queries are the last t of s
// positions: key c is visible to query a when (!causal or c <= s - t + a) and (window <= 0 or
// c > s - t + a - window). Stages:
//   score(a, b, c) = sum[r < d] q(a, b, r) * k(c, b / group, r)
//   logit(a, b, c) = visible ? softcap(score * scale) : -inf     (softcap c tanh(x / c) if > 0)
//   mx(a, b) = max[c < s] logit;  l(a, b) = sum[c < s] exp(logit - mx)
//   p(a, b, c) = exp(logit - mx) / l;  out(a, b, e) = sum[c < s] p(a, b, c) * v(c, b / group, e)
// Sizes t, h, kh, d, s (s >= t).
//
// Paged: k and v are a cache of `rows` rows (size `rows`), and an extra input slots i32[s]
// names the row holding each key position: k(c) above reads k(slots(c)). Slots are clamped
// into the cache.
ComputeDef attention(double scale, double softcap, bool causal, int64_t window, DType kv = DType::f32,
                     bool paged = false);

// ---- Views and copies (views.cpp) --------------------------------------------------------
// reshape, permute, slice and concat copy elements of `dtype` (f32, f16, bf16 or an integer
// type: anything but a block format) unchanged; input and output share it.

// x[in0, ...] -> out[out0, ...] with the same elements in row-major order; the products of the
// two shapes are equal. Sizes in0.., out0..
ComputeDef reshape(int in_rank, int out_rank, DType dtype = DType::f32);
// out.shape[k] = x.shape[perm[k]] (numpy's transpose): out(i0, ...) = x(j) with j[perm[k]] = ik.
// Sizes d0.. are x's.
ComputeDef permute(const std::vector<int>& perm, DType dtype = DType::f32);
// out = x restricted to [start, start + length) along `axis`. Sizes d0.. (x's), start, length
// (start + length <= d{axis}).
ComputeDef slice(int rank, int axis, DType dtype = DType::f32);
// a and b, equal but along `axis`, joined there. Sizes d{k} for k != axis, a_len, b_len
// (both >= 1).
ComputeDef concat(int rank, int axis, DType dtype = DType::f32);
// x f32[t, kh, d], slots i32[t] -> cache[rows, kh, d] of dtype `cache` (f32, f16 or bf16),
// updated in place: new keys or values, converted to the cache's dtype, scattered to the rows
// the slots name (cache(slots(a), b, e) = x(a, b, e); a slot outside the cache is clamped into
// it). Other rows keep their values. Sizes t, kh, d, rows.
ComputeDef kv_write(DType cache);

}  // namespace kiln::kernel::ops
