#include "ops/op_cases.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "base/dequantize.h"
#include "base/error.h"
#include "base/half.h"
#include "kernel/compute/fuse.h"
#include "kernel/compute/ops.h"
#include "kernel/ir/evaluate.h"
#include "ops/reference.h"

namespace kiln::test {

using kernel::ComputeDef;
using kernel::ReduceKind;
namespace ops = kernel::ops;

std::map<std::string, const std::vector<uint8_t>*> OpCase::input_buffers() const {
  std::map<std::string, const std::vector<uint8_t>*> buffers;
  for (const HostTensor& t : inputs) buffers[t.name] = &t.bytes;
  return buffers;
}

const std::vector<int64_t>& test_sizes() {
  static const std::vector<int64_t> sizes = {1, 3, 64, 257, 1031};
  return sizes;
}

const std::vector<DType>& weight_dtypes() {
  static const std::vector<DType> dtypes = {DType::f32,  DType::f16,  DType::bf16, DType::q4_0, DType::q4_1,
                                            DType::q5_0, DType::q5_1, DType::q8_0, DType::q2_K, DType::q3_K,
                                            DType::q4_K, DType::q5_K, DType::q6_K};
  return dtypes;
}

namespace {

constexpr double kF32Rtol = 1e-5;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int64_t product(const std::vector<int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

double uniform(Rng& rng, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
int64_t uniform_int(Rng& rng, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }

// Byte offsets of the f16 scale fields (d, and m or dmin) of each block format, which random
// bytes would fill with infinities and NaNs.
std::vector<int> f16_fields(DType dtype) {
  switch (dtype) {
    case DType::q4_0: case DType::q5_0: case DType::q8_0: return {0};
    case DType::q4_1: case DType::q5_1: case DType::q4_K: case DType::q5_K: return {0, 2};
    case DType::q2_K: return {80, 82};
    case DType::q3_K: return {108};
    case DType::q6_K: return {208};
    default: break;
  }
  KILN_CHECK(false, "no random blocks of {}", dtype_name(dtype));
  return {};
}

std::vector<uint8_t> random_blocks(DType dtype, int64_t elements, Rng& rng) {
  const DTypeInfo& info = dtype_info(dtype);
  KILN_CHECK(elements % info.block_size == 0, "{} elements of {}", elements, info.name);
  const int64_t blocks = elements / info.block_size;
  std::vector<uint8_t> bytes(blocks * info.block_bytes);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(uniform_int(rng, 0, 255));
  for (int64_t block = 0; block < blocks; ++block) {
    for (int offset : f16_fields(dtype)) {
      const double magnitude = std::exp2(uniform(rng, -9, -4));
      const uint16_t half = f32_to_f16(static_cast<float>(uniform_int(rng, 0, 1) ? magnitude : -magnitude));
      std::memcpy(&bytes[block * info.block_bytes + offset], &half, 2);
    }
  }
  return bytes;
}

std::vector<double> values_of_blocks(DType dtype, const std::vector<uint8_t>& bytes, int64_t elements) {
  std::vector<float> floats(elements);
  dequantize(dtype, bytes, floats);
  return {floats.begin(), floats.end()};
}

// ---- Case assembly ---------------------------------------------------------------------------

OpCase make_case(const std::string& family, ComputeDef def, std::map<std::string, int64_t> sizes) {
  OpCase c;
  c.family = family;
  c.name = def.name;
  for (const std::string& p : def.size_params) c.name += fmt::format(" {}={}", p, sizes.at(p));
  c.def = std::move(def);
  c.sizes = std::move(sizes);
  return c;
}

// The concrete shape of a declared tensor under the case's sizes.
std::vector<int64_t> shape_of(const OpCase& c, const kernel::TensorDecl& t) {
  std::vector<int64_t> shape;
  for (const ir::Expr& e : t.shape) shape.push_back(ir::evaluate_int(e, c.sizes));
  return shape;
}

HostTensor expected_output(const OpCase& c, size_t output, std::vector<double> values) {
  const kernel::TensorDecl& t = c.def.outputs.at(output);
  HostTensor h;
  h.name = t.name;
  h.dtype = t.dtype;
  h.shape = shape_of(c, t);
  KILN_CHECK(static_cast<int64_t>(values.size()) == product(h.shape), "{}: reference gives {} values for {}", c.name,
             values.size(), t.name);
  h.values = std::move(values);
  return h;
}

double max_abs(const std::vector<double>& values) {
  double m = 0;
  for (double v : values) {
    if (std::isfinite(v)) m = std::max(m, std::fabs(v));
  }
  return m;
}

// f32 results that are sums: relative to the output's scale.
Tolerance sum_tolerance(const std::vector<double>& want) { return {kF32Rtol, kF32Rtol * max_abs(want)}; }

std::vector<double> abs_values(std::vector<double> values) {
  for (double& v : values) v = std::fabs(v);
  return values;
}
// f32 results of one rounding-free computation per element: relative to each value.
Tolerance elementwise_tolerance() { return {kF32Rtol, 1e-30}; }
Tolerance exact() { return {0, 0}; }

// ---- Families --------------------------------------------------------------------------------

// [rows, cols] pairs for a rank-2 op: every test size as the row length with `rows` fixed, then
// every test size as the number of rows with `cols` fixed (one sweep per dimension, not the
// cross product).
std::vector<std::pair<int64_t, int64_t>> leading_and_trailing_sizes(int64_t rows, int64_t cols) {
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (int64_t n : test_sizes()) pairs.emplace_back(rows, n);
  for (int64_t n : test_sizes()) pairs.emplace_back(n, cols);
  return pairs;
}

struct UnaryCase {
  ops::Unary op;
  double attr, lo, hi;
};

void unary_cases(std::vector<OpCase>& out, Rng& rng) {
  const UnaryCase cases[] = {
      {ops::Unary::Silu, 0, -8, 8},      {ops::Unary::Gelu, 0, -6, 6},     {ops::Unary::GeluTanh, 0, -6, 6},
      {ops::Unary::Exp, 0, -8, 8},       {ops::Unary::Tanh, 0, -4, 4},     {ops::Unary::Neg, 0, -4, 4},
      {ops::Unary::Rsqrt, 0, 0.01, 10},  {ops::Unary::Scale, 0.37, -4, 4}, {ops::Unary::Softcap, 5.0, -20, 20},
  };
  for (const UnaryCase& u : cases) {
    // The row length, then the number of rows, over test_sizes().
    for (const auto& [rows, cols] : leading_and_trailing_sizes(2, 5)) {
      OpCase c = make_case("unary", ops::unary(u.op, 2, u.attr), {{"d0", rows}, {"d1", cols}});
      c.inputs = {random_tensor("x", DType::f32, {rows, cols}, rng, u.lo, u.hi)};
      const auto want = ref::unary(u.op, c.inputs[0].values, u.attr);
      c.expected = {expected_output(c, 0, want)};
      // Gelu's 1 + erf(...) cancels in f32 for negative x, where |gelu(x)| << |x|: beyond 1e-5
      // relative, an absolute error of a few f32 ulps of the input's scale is allowed.
      c.tolerance = {kF32Rtol, 1e-7 * max_abs(c.inputs[0].values)};
      out.push_back(std::move(c));
    }
  }
  // Rank 5: more leading axes than a GPU grid has dimensions (the rules fuse two of them).
  for (int rank : {1, 3, 5}) {
    std::map<std::string, int64_t> sizes;
    std::vector<int64_t> shape;
    for (int k = 0; k < rank; ++k) {
      shape.push_back(k == rank - 1 ? 65 : k + 2);
      sizes["d" + std::to_string(k)] = shape.back();
    }
    OpCase c = make_case("unary", ops::unary(ops::Unary::Silu, rank), sizes);
    c.inputs = {random_tensor("x", DType::f32, shape, rng, -8, 8)};
    const auto want = ref::unary(ops::Unary::Silu, c.inputs[0].values, 0);
    c.expected = {expected_output(c, 0, want)};
    c.tolerance = sum_tolerance(want);
    out.push_back(std::move(c));
  }
}

void binary_cases(std::vector<OpCase>& out, Rng& rng) {
  const std::vector<std::vector<bool>> patterns = {{}, {false, true}, {true, false}};
  for (ops::Binary op : {ops::Binary::Add, ops::Binary::Sub, ops::Binary::Mul, ops::Binary::Div}) {
    for (const auto& broadcast : patterns) {
      for (const auto& [rows, cols] : leading_and_trailing_sizes(3, 7)) {
        const std::vector<int64_t> shape = {rows, cols};
        std::vector<int64_t> b_shape = shape;
        for (size_t k = 0; k < broadcast.size(); ++k) {
          if (broadcast[k]) b_shape[k] = 1;
        }
        OpCase c = make_case("binary", ops::binary(op, 2, broadcast), {{"d0", rows}, {"d1", cols}});
        c.inputs = {random_tensor("a", DType::f32, shape, rng, -4, 4), random_tensor("b", DType::f32, b_shape, rng, 0.5, 2)};
        // Both signs for b, away from zero for Div.
        std::vector<double> b_values = c.inputs[1].values;
        for (size_t j = 0; j < b_values.size(); j += 2) b_values[j] = -b_values[j];
        c.inputs[1] = tensor_of("b", DType::f32, b_shape, b_values);
        const auto want = ref::binary(op, shape, broadcast, c.inputs[0].values, c.inputs[1].values);
        c.expected = {expected_output(c, 0, want)};
        c.tolerance = elementwise_tolerance();
        out.push_back(std::move(c));
      }
    }
  }
  // Rank 3, broadcast along the outer and inner dimensions.
  for (int64_t n : {int64_t{1}, int64_t{257}}) {
    const std::vector<bool> broadcast = {true, false, true};
    OpCase c = make_case("binary", ops::binary(ops::Binary::Mul, 3, broadcast), {{"d0", 2}, {"d1", n}, {"d2", 5}});
    c.inputs = {random_tensor("a", DType::f32, {2, n, 5}, rng, -4, 4), random_tensor("b", DType::f32, {1, n, 1}, rng)};
    c.expected = {expected_output(c, 0, ref::binary(ops::Binary::Mul, {2, n, 5}, broadcast, c.inputs[0].values,
                                                    c.inputs[1].values))};
    c.tolerance = elementwise_tolerance();
    out.push_back(std::move(c));
  }
}

// Values that exercise every branch of f16/bf16 rounding: zeros, subnormals, ties, overflow,
// infinities and NaN.
std::vector<double> special_values() {
  return {0.0,          -0.0,        1e-9,        -3e-8,         5.96e-8,       2.98e-8,     6.1e-5,
          -6.1035e-5,   1.00048828125, 1.00146484375, 65504.0,    65519.0,       65520.0,     -1e5,
          3.3895e38,    3.4e38,      kInf,        -kInf,         kNaN,          1.0 + 1.0 / 256, 1e-40};
}

void convert_cases(std::vector<OpCase>& out, Rng& rng) {
  struct Pair {
    DType from, to;
    double lo, hi;
    bool specials;
  };
  // Every pair of the graph's cast (f32, f16, bf16, identities included), and f32 <-> i32.
  // Specials are rounded into the source dtype first: bf16 -> f16 still meets overflow,
  // subnormal results and NaN.
  const Pair pairs[] = {
      {DType::f32, DType::f16, -70000, 70000, true},  {DType::f32, DType::bf16, -100, 100, true},
      {DType::f16, DType::f32, -100, 100, true},      {DType::bf16, DType::f32, -100, 100, true},
      {DType::f16, DType::bf16, -100, 100, true},     {DType::bf16, DType::f16, -70000, 70000, true},
      {DType::f32, DType::f32, -100, 100, true},      {DType::f16, DType::f16, -100, 100, true},
      {DType::bf16, DType::bf16, -100, 100, true},    {DType::f32, DType::i32, -1e6, 1e6, false},
      {DType::i32, DType::f32, -(1 << 30), 1 << 30, false},
  };
  for (const Pair& p : pairs) {
    for (const auto& [rows, cols] : leading_and_trailing_sizes(2, 3)) {
      OpCase c = make_case("convert", ops::convert(p.from, p.to, 2), {{"d0", rows}, {"d1", cols}});
      HostTensor x = random_tensor("x", p.from, {rows, cols}, rng, p.lo, p.hi);
      if (p.specials) {
        std::vector<double> v = x.values;
        const auto specials = special_values();
        for (size_t i = 0; i < specials.size() && i < v.size(); ++i) v[i] = specials[i];
        for (size_t i = specials.size(); i < v.size(); i += 3) v[i] *= 1e-6;  // small values too
        x = tensor_of("x", p.from, {rows, cols}, v);
      }
      c.inputs = {x};
      c.expected = {expected_output(c, 0, ref::convert(p.to, x.values))};
      c.tolerance = exact();
      out.push_back(std::move(c));
    }
  }
}

// Sizes for the dimension that holds a weight's blocks: whole numbers of blocks.
std::vector<int64_t> block_dim_sizes(DType dtype) {
  const int64_t block = dtype_info(dtype).block_size;
  if (block == 1) return test_sizes();
  return {block, 3 * block, (1000 / block + 1) * block};
}

void matmul_cases(std::vector<OpCase>& out, Rng& rng) {
  for (DType w : weight_dtypes()) {
    const int64_t block = dtype_info(w).block_size;
    const int64_t small_k = block == 1 ? 16 : block;
    std::vector<std::map<std::string, int64_t>> size_sets;
    for (int64_t m : test_sizes()) size_sets.push_back({{"m", m}, {"n", 1}, {"k", small_k}});
    for (int64_t n : test_sizes()) size_sets.push_back({{"m", 1}, {"n", n}, {"k", small_k}});
    for (int64_t k : block_dim_sizes(w)) size_sets.push_back({{"m", 2}, {"n", 3}, {"k", k}});
    // Full tiles of x rows and of weight rows, each with a remainder.
    size_sets.push_back({{"m", 9}, {"n", 37}, {"k", 3 * small_k}});
    for (const auto& sizes : size_sets) {
      const int64_t m = sizes.at("m"), n = sizes.at("n"), k = sizes.at("k");
      OpCase c = make_case("matmul", ops::matmul(w), sizes);
      c.inputs = {random_tensor("x", DType::f32, {m, k}, rng), random_tensor("w", w, {n, k}, rng)};
      const auto want = ref::matmul(m, n, k, c.inputs[0].values, c.inputs[1].values);
      c.expected = {expected_output(c, 0, want)};
      // A dot product's f32 rounding error scales with the sum of |terms|, not with the result,
      // which cancellation can make small.
      c.tolerance = sum_tolerance(ref::matmul(m, n, k, abs_values(c.inputs[0].values), abs_values(c.inputs[1].values)));
      out.push_back(std::move(c));
    }
  }
}

void embedding_cases(std::vector<OpCase>& out, Rng& rng) {
  for (DType w : weight_dtypes()) {
    const int64_t block = dtype_info(w).block_size;
    const int64_t small_dim = block == 1 ? 8 : block;
    std::vector<std::map<std::string, int64_t>> size_sets;
    for (int64_t n : test_sizes()) size_sets.push_back({{"n", n}, {"vocab", 11}, {"dim", small_dim}});
    for (int64_t vocab : test_sizes()) size_sets.push_back({{"n", 4}, {"vocab", vocab}, {"dim", small_dim}});
    for (int64_t dim : block_dim_sizes(w)) size_sets.push_back({{"n", 3}, {"vocab", 5}, {"dim", dim}});
    for (const auto& sizes : size_sets) {
      const int64_t n = sizes.at("n"), vocab = sizes.at("vocab"), dim = sizes.at("dim");
      OpCase c = make_case("embedding", ops::embedding(w), sizes);
      HostTensor ids = random_tensor("ids", DType::i32, {n}, rng, 0, vocab - 1);
      if (n >= 3) {  // ids out of range are clamped
        ids.values[0] = -1;
        ids.values[n - 1] = static_cast<double>(vocab + 5);
        ids = tensor_of("ids", DType::i32, {n}, ids.values);
      }
      c.inputs = {random_tensor("w", w, {vocab, dim}, rng), ids};
      c.expected = {expected_output(c, 0, ref::embedding(n, vocab, dim, c.inputs[0].values, ids.values))};
      c.tolerance = exact();
      out.push_back(std::move(c));
    }
  }
}

// Row ops over x [rows, cols]: the sizes to sweep.
std::vector<std::map<std::string, int64_t>> row_sizes(int64_t fixed_cols) {
  std::vector<std::map<std::string, int64_t>> sets;
  for (int64_t cols : test_sizes()) sets.push_back({{"rows", 3}, {"cols", cols}});
  for (int64_t rows : test_sizes()) sets.push_back({{"rows", rows}, {"cols", fixed_cols}});
  return sets;
}

void normalization_cases(std::vector<OpCase>& out, Rng& rng) {
  for (const auto& sizes : row_sizes(33)) {
    const int64_t rows = sizes.at("rows"), cols = sizes.at("cols");
    {
      OpCase c = make_case("normalization", ops::rms_norm(1e-6), sizes);
      c.inputs = {random_tensor("x", DType::f32, {rows, cols}, rng)};
      const auto want = ref::rms_norm(rows, cols, 1e-6, c.inputs[0].values);
      c.expected = {expected_output(c, 0, want)};
      c.tolerance = sum_tolerance(want);
      out.push_back(std::move(c));
    }
    {
      OpCase c = make_case("normalization", ops::layer_norm(1e-5), sizes);
      c.inputs = {random_tensor("x", DType::f32, {rows, cols}, rng, 1, 3)};  // a mean far from 0
      const auto want = ref::layer_norm(rows, cols, 1e-5, c.inputs[0].values);
      c.expected = {expected_output(c, 0, want)};
      c.tolerance = sum_tolerance(want);
      out.push_back(std::move(c));
    }
    // No mask, an f32 mask and an f16 one (the registry's mask dtypes).
    for (const std::optional<DType> mask_dtype : {std::optional<DType>{}, std::optional{DType::f32}, std::optional{DType::f16}}) {
      const bool with_mask = mask_dtype.has_value();
      const double scale = with_mask ? 0.125 : 1.0;
      OpCase c = make_case("normalization", ops::softmax(scale, with_mask, mask_dtype.value_or(DType::f32)), sizes);
      c.inputs = {random_tensor("x", DType::f32, {rows, cols}, rng, -8, 8)};
      std::vector<double> mask;
      if (with_mask) {
        // Mostly 0, some -inf (never a whole row: column 0 stays visible), some finite biases.
        mask.resize(rows * cols);
        for (int64_t i = 0; i < rows * cols; ++i) {
          const double u = uniform(rng, 0, 1);
          mask[i] = i % cols == 0 || u < 0.6 ? 0.0 : u < 0.8 ? -kInf : -uniform(rng, 0, 3);
        }
        c.inputs.push_back(tensor_of("mask", *mask_dtype, {rows, cols}, mask));
        mask = c.inputs.back().values;  // as rounded into the mask's dtype
      }
      c.expected = {expected_output(c, 0, ref::softmax(rows, cols, scale, c.inputs[0].values, mask))};
      c.tolerance = {kF32Rtol, 1e-12};  // each probability to 1e-5 of itself
      out.push_back(std::move(c));
    }
  }
}

void reduction_cases(std::vector<OpCase>& out, Rng& rng) {
  struct Kind {
    ReduceKind kind;
    bool mean;
  };
  for (const Kind k : {Kind{ReduceKind::Sum, false}, Kind{ReduceKind::Sum, true}, Kind{ReduceKind::Max, false},
                       Kind{ReduceKind::Min, false}}) {
    for (const auto& sizes : row_sizes(17)) {
      const int64_t rows = sizes.at("rows"), cols = sizes.at("cols");
      OpCase c = make_case("reduction", ops::reduce(k.kind, k.mean), sizes);
      c.inputs = {random_tensor("x", DType::f32, {rows, cols}, rng)};
      const auto want = ref::reduce(k.kind, k.mean, rows, cols, c.inputs[0].values);
      c.expected = {expected_output(c, 0, want)};
      // A sum's f32 rounding error scales with the sum of |terms|, which cancellation can make
      // far larger than the result.
      c.tolerance = k.kind == ReduceKind::Sum
                        ? sum_tolerance(ref::reduce(k.kind, k.mean, rows, cols, abs_values(c.inputs[0].values)))
                        : exact();
      out.push_back(std::move(c));
    }
  }
  for (const auto& sizes : row_sizes(17)) {
    const int64_t rows = sizes.at("rows"), cols = sizes.at("cols");
    OpCase c = make_case("reduction", ops::argmax(), sizes);
    // Few distinct values, so rows have ties and the first maximum must win.
    std::vector<double> x(rows * cols);
    for (double& v : x) v = static_cast<double>(uniform_int(rng, -4, 4));
    c.inputs = {tensor_of("x", DType::f32, {rows, cols}, x)};
    c.expected = {expected_output(c, 0, ref::argmax(rows, cols, x))};
    c.tolerance = exact();
    out.push_back(std::move(c));
  }
}

void rope_cases(std::vector<OpCase>& out, Rng& rng) {
  struct Shape {
    int64_t t, h, d;
    int n_dims;
  };
  std::vector<Shape> shapes;
  for (int64_t t : test_sizes()) shapes.push_back({t, 2, 8, 8});
  for (int64_t h : test_sizes()) shapes.push_back({2, h, 10, 6});  // partial rotation
  for (int64_t d : {int64_t{3}, int64_t{64}, int64_t{257}, int64_t{1031}}) {
    shapes.push_back({2, 1, d, static_cast<int>(std::min<int64_t>(d - d % 2, 256))});
  }
  // Bases of Llama 2 (1e4), Llama 3 (5e5) and a small one, with linear frequency scaling
  // factors: each shape takes one pair in turn, so every pair meets several sizes.
  struct Frequencies {
    double theta, freq_scale;
  };
  const Frequencies frequencies[] = {{10000, 1.0}, {500000, 0.25}, {100, 0.5}};
  constexpr int64_t kMaxPos = 256;
  for (ops::RopeMode mode : {ops::RopeMode::Normal, ops::RopeMode::Neox}) {
    for (bool with_ff : {false, true}) {
      for (size_t shape_index = 0; shape_index < shapes.size(); ++shape_index) {
        const Shape& s = shapes[shape_index];
        const auto [theta, freq_scale] = frequencies[shape_index % std::size(frequencies)];
        OpCase c = make_case("rope", ops::rope(mode, s.n_dims, theta, freq_scale, with_ff),
                             {{"t", s.t}, {"h", s.h}, {"d", s.d}});
        c.inputs = {random_tensor("x", DType::f32, {s.t, s.h, s.d}, rng), random_tensor("pos", DType::i32, {s.t}, rng, 0, kMaxPos - 1)};
        std::vector<double> ff;
        if (with_ff) {
          c.inputs.push_back(random_tensor("freq_factors", DType::f32, {s.n_dims / 2}, rng, 1, 8));
          ff = c.inputs.back().values;
        }
        c.expected = {expected_output(c, 0, ref::rope(mode, s.n_dims, theta, freq_scale, s.t, s.h, s.d,
                                                       c.inputs[0].values, c.inputs[1].values, ff))};
        // The angle pos * freq is rounded to f32 (as every f32 rope does), so its absolute error
        // grows with the angle: a few ulps of it.
        const double max_angle = kMaxPos * freq_scale;
        c.tolerance = {kF32Rtol, max_abs(c.inputs[0].values) * (kF32Rtol + 1e-6 * max_angle)};
        out.push_back(std::move(c));
      }
    }
  }
}

// `n` distinct rows of a cache of `rows`, in random order (as a paged cache's block tables
// hand them out).
std::vector<int64_t> distinct_slots(int64_t n, int64_t rows, Rng& rng) {
  std::vector<int64_t> all(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) all[static_cast<size_t>(i)] = i;
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<size_t>(n));
  return all;
}

// Row slots[i] of `values` (rows of `width`) for each i.
std::vector<double> gather_rows(const std::vector<double>& values, const std::vector<int64_t>& slots, int64_t width) {
  std::vector<double> out;
  for (int64_t slot : slots) {
    const auto first = values.begin() + slot * width;
    out.insert(out.end(), first, first + width);
  }
  return out;
}

void attention_cases(std::vector<OpCase>& out, Rng& rng) {
  struct Config {
    bool causal;
    int64_t window;
    double softcap;
    DType kv;
    int64_t group;  // h / kh
  };
  const Config configs[] = {
      {true, 0, 0, DType::f32, 2},   // causal, grouped-query
      {true, 5, 0, DType::f16, 1},   // sliding window, f16 cache
      {false, 0, 0.5, DType::bf16, 1},  // no mask, a softcap that bites, bf16 cache
      {true, 3, 30, DType::f32, 3},  // window and softcap together
  };
  struct Sizes {
    int64_t t, kh, d, s;
  };
  for (const Config& cfg : configs) {
    std::vector<Sizes> sweep;
    for (int64_t s : test_sizes()) sweep.push_back({std::min<int64_t>(s, 3), 1, 8, s});
    // Every query length, the longest (t x s scores) for one configuration only.
    for (int64_t t : test_sizes()) {
      if (t < 1000 || &cfg == &configs[1]) sweep.push_back({t, 1, 1, t + 2});
    }
    for (int64_t d : test_sizes()) sweep.push_back({2, 1, d, 5});
    for (int64_t kh : test_sizes()) sweep.push_back({2, kh, 4, 3});
    for (const Sizes& z : sweep) {
      const int64_t h = z.kh * cfg.group;
      const double scale = 1 / std::sqrt(static_cast<double>(z.d));
      OpCase c = make_case("attention", ops::attention(scale, cfg.softcap, cfg.causal, cfg.window, cfg.kv),
                           {{"t", z.t}, {"h", h}, {"kh", z.kh}, {"d", z.d}, {"s", z.s}});
      c.inputs = {random_tensor("q", DType::f32, {z.t, h, z.d}, rng, -2, 2), random_tensor("k", cfg.kv, {z.s, z.kh, z.d}, rng, -2, 2),
                  random_tensor("v", cfg.kv, {z.s, z.kh, z.d}, rng)};
      const auto want = ref::attention(scale, cfg.softcap, cfg.causal, cfg.window, z.t, h, z.kh, z.d, z.s,
                                       c.inputs[0].values, c.inputs[1].values, c.inputs[2].values);
      c.expected = {expected_output(c, 0, want)};
      // Each output is a weighted mean of v rows: its error scales with |v|, not with the mean,
      // which cancellation can make small.
      c.tolerance = sum_tolerance(abs_values(c.inputs[2].values));
      out.push_back(std::move(c));
    }
    // Paged: keys and values sit in a larger cache, at the rows the slots name, in any order.
    for (int64_t s : test_sizes()) {
      const Sizes z{std::min<int64_t>(s, 3), 2, 8, s};
      const int64_t h = z.kh * cfg.group, rows = s + 3;
      const double scale = 1 / std::sqrt(static_cast<double>(z.d));
      OpCase c = make_case("attention", ops::attention(scale, cfg.softcap, cfg.causal, cfg.window, cfg.kv, true),
                           {{"t", z.t}, {"h", h}, {"kh", z.kh}, {"d", z.d}, {"s", z.s}, {"rows", rows}});
      const std::vector<int64_t> slots = distinct_slots(s, rows, rng);
      c.inputs = {random_tensor("q", DType::f32, {z.t, h, z.d}, rng, -2, 2),
                  random_tensor("k", cfg.kv, {rows, z.kh, z.d}, rng, -2, 2), random_tensor("v", cfg.kv, {rows, z.kh, z.d}, rng),
                  tensor_of("slots", DType::i32, {s}, std::vector<double>(slots.begin(), slots.end()))};
      const auto want = ref::attention(scale, cfg.softcap, cfg.causal, cfg.window, z.t, h, z.kh, z.d, z.s, c.inputs[0].values,
                                       gather_rows(c.inputs[1].values, slots, z.kh * z.d),
                                       gather_rows(c.inputs[2].values, slots, z.kh * z.d));
      c.expected = {expected_output(c, 0, want)};
      c.tolerance = sum_tolerance(abs_values(c.inputs[2].values));
      out.push_back(std::move(c));
    }
  }
}

// Elements of a view's dtype: integers over most of i32's range, floats of varied exponents.
HostTensor view_input(const std::string& name, DType dtype, std::vector<int64_t> shape, Rng& rng) {
  if (dtype == DType::i32) return random_tensor(name, dtype, std::move(shape), rng, -2e9, 2e9);
  return random_tensor(name, dtype, std::move(shape), rng, -100, 100);
}

std::map<std::string, int64_t> dims_of(const std::vector<int64_t>& shape) {
  std::map<std::string, int64_t> sizes;
  for (size_t k = 0; k < shape.size(); ++k) sizes["d" + std::to_string(k)] = shape[k];
  return sizes;
}

// reshape, permute, slice and concat copy elements: f32 is swept over every dimension (the
// axis of the view and the others), f16, bf16 and i32 over the view's own axis.
void view_cases(std::vector<OpCase>& out, Rng& rng) {
  const auto add = [&](ComputeDef def, std::map<std::string, int64_t> sizes, std::vector<HostTensor> inputs,
                       std::vector<double> want) {
    OpCase c = make_case("views", std::move(def), std::move(sizes));
    c.inputs = std::move(inputs);
    c.expected = {expected_output(c, 0, std::move(want))};
    c.tolerance = exact();
    out.push_back(std::move(c));
  };
  const auto add_slice = [&](DType dtype, const std::vector<int64_t>& shape, int axis, int64_t start, int64_t length) {
    HostTensor x = view_input("x", dtype, shape, rng);
    std::map<std::string, int64_t> sizes = dims_of(shape);
    sizes["start"] = start;
    sizes["length"] = length;
    add(ops::slice(static_cast<int>(shape.size()), axis, dtype), sizes, {x}, ref::slice(shape, axis, start, length, x.values));
  };
  const auto add_concat = [&](DType dtype, const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape,
                              int axis) {
    HostTensor a = view_input("a", dtype, a_shape, rng), b = view_input("b", dtype, b_shape, rng);
    std::map<std::string, int64_t> sizes = dims_of(a_shape);
    sizes.erase("d" + std::to_string(axis));
    sizes["a_len"] = a_shape[axis];
    sizes["b_len"] = b_shape[axis];
    add(ops::concat(static_cast<int>(a_shape.size()), axis, dtype), sizes, {a, b},
        ref::concat(a_shape, b_shape, axis, a.values, b.values));
  };
  const auto add_permute = [&](DType dtype, const std::vector<int64_t>& shape, const std::vector<int>& perm) {
    HostTensor x = view_input("x", dtype, shape, rng);
    add(ops::permute(perm, dtype), dims_of(shape), {x}, ref::permute(shape, perm, x.values));
  };
  for (DType dtype : {DType::f32, DType::f16, DType::bf16, DType::i32}) {
    const bool every_dimension = dtype == DType::f32;
    for (int64_t m : test_sizes()) {
      // reshape [2, 3m] -> [2, 3, m], [2, m, 3] -> [2m, 3], [6m] -> [3m, 2]
      HostTensor x = view_input("x", dtype, {2, 3 * m}, rng);
      add(ops::reshape(2, 3, dtype), {{"in0", 2}, {"in1", 3 * m}, {"out0", 2}, {"out1", 3}, {"out2", m}}, {x}, x.values);
      if (every_dimension) {
        x = view_input("x", dtype, {2, m, 3}, rng);
        add(ops::reshape(3, 2, dtype), {{"in0", 2}, {"in1", m}, {"in2", 3}, {"out0", 2 * m}, {"out1", 3}}, {x}, x.values);
        x = view_input("x", dtype, {6 * m}, rng);
        add(ops::reshape(1, 2, dtype), {{"in0", 6 * m}, {"out0", 3 * m}, {"out1", 2}}, {x}, x.values);
      }
      // permute: m in each position of the input
      add_permute(dtype, {3, m}, {1, 0});
      add_permute(dtype, {2, m, 3}, {2, 0, 1});
      if (every_dimension) {
        add_permute(dtype, {m, 5}, {1, 0});
        for (const std::vector<int>& perm : {std::vector<int>{0, 2, 1}, {2, 0, 1}, {1, 0, 2}}) {
          for (const std::vector<int64_t>& shape : {std::vector<int64_t>{2, m, 3}, {m, 2, 3}, {2, 3, m}}) {
            if (perm != std::vector<int>{2, 0, 1} || shape != std::vector<int64_t>{2, m, 3}) add_permute(dtype, shape, perm);
          }
        }
      }
      // slice: m elements of the sliced axis, then (f32) m along a dimension that is not sliced
      add_slice(dtype, {3, m + 4}, 1, 2, m);
      add_slice(dtype, {m + 1, 5}, 0, 1, m);
      if (every_dimension) {
        add_slice(dtype, {2, m + 3, 3}, 1, 3, m);
        add_slice(dtype, {m, 6}, 1, 1, 4);
        add_slice(dtype, {6, m}, 0, 2, 3);
        add_slice(dtype, {m, 5, 3}, 1, 1, 3);
        add_slice(dtype, {2, 5, m}, 1, 2, 2);
      }
      // concat: parts of m along the axis, then (f32) parts of a few with m across it
      add_concat(dtype, {m, 3}, {2, 3}, 0);
      add_concat(dtype, {3, 1}, {3, m}, 1);
      if (every_dimension) {
        add_concat(dtype, {2, 3, m}, {2, 3, m + 1}, 2);
        add_concat(dtype, {2, m}, {3, m}, 0);
        add_concat(dtype, {m, 2}, {m, 1}, 1);
        add_concat(dtype, {m, 3, 2}, {m, 3, 1}, 2);
        add_concat(dtype, {2, m, 2}, {2, m, 1}, 2);
      }
    }
  }
  // kv_write: new rows scattered over every row of a cache as long as they are, in random
  // order, so the whole output is defined: cache(slots(a)) = x(a). Swept over the number of
  // tokens (with kh = 2, d = 8), then over kh and over d (3 tokens).
  std::vector<std::array<int64_t, 3>> kv_sizes;  // t, kh, d
  for (int64_t m : test_sizes()) kv_sizes.push_back({m, 2, 8});
  for (int64_t m : test_sizes()) kv_sizes.push_back({3, m, 8});
  for (int64_t m : test_sizes()) kv_sizes.push_back({3, 2, m});
  for (DType cache : {DType::f32, DType::f16, DType::bf16}) {
    for (const auto& [t, kh, d] : kv_sizes) {
      const int64_t row = kh * d;
      HostTensor x = random_tensor("x", DType::f32, {t, kh, d}, rng, -100, 100);
      const std::vector<int64_t> slots = distinct_slots(t, t, rng);
      std::vector<double> want(x.values.size());
      for (int64_t a = 0; a < t; ++a) {
        std::copy_n(x.values.begin() + a * row, row, want.begin() + slots[static_cast<size_t>(a)] * row);
      }
      add(ops::kv_write(cache), {{"t", t}, {"kh", kh}, {"d", d}, {"rows", t}},
          {x, tensor_of("slots", DType::i32, {t}, std::vector<double>(slots.begin(), slots.end()))},
          ref::convert(cache, want));
    }
  }
}

// Element-wise consumers folded into a producer's epilogue (kernel/compute/fuse.h), as the
// Llama graph fuses them: matmul + residual add, rms_norm + weight mul, gate matmul + silu +
// mul by up. Expected values compose the independent references.
void fused_cases(std::vector<OpCase>& out, Rng& rng) {
  const auto fold = [](const ComputeDef& producer, const ComputeDef& consumer, const std::string& input,
                       const std::string& prefix) {
    auto fused = kernel::fuse_epilogue(producer, consumer, input, prefix);
    KILN_CHECK(fused.has_value(), "{} does not fold into {}", consumer.name, producer.name);
    return fused->def;
  };
  for (DType w : {DType::f32, DType::q4_1, DType::q8_0}) {
    for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{6}}) {
      const int64_t n = 19, k = 64;
      {  // out = residual + x w^T
        OpCase c = make_case("fused", fold(ops::matmul(w), ops::binary(ops::Binary::Add, 2, {}), "b", "e1_"),
                             {{"m", m}, {"n", n}, {"k", k}});
        c.inputs = {random_tensor("x", DType::f32, {m, k}, rng), random_tensor("w", w, {n, k}, rng),
                    random_tensor("e1_a", DType::f32, {m, n}, rng, -4, 4)};
        const auto product = ref::matmul(m, n, k, c.inputs[0].values, c.inputs[1].values);
        std::vector<double> want(product.size());
        for (size_t i = 0; i < want.size(); ++i) want[i] = c.inputs[2].values[i] + product[i];
        c.expected = {expected_output(c, 0, want)};
        c.tolerance = sum_tolerance(ref::matmul(m, n, k, abs_values(c.inputs[0].values), abs_values(c.inputs[1].values)));
        c.tolerance.atol += kF32Rtol * 4;
        out.push_back(std::move(c));
      }
      {  // out = silu(x wg^T) * up
        ComputeDef def = fold(ops::matmul(w), ops::unary(ops::Unary::Silu, 2), "x", "e1_");
        def = fold(def, ops::binary(ops::Binary::Mul, 2, {}), "a", "e2_");
        OpCase c = make_case("fused", def, {{"m", m}, {"n", n}, {"k", k}});
        c.inputs = {random_tensor("x", DType::f32, {m, k}, rng), random_tensor("w", w, {n, k}, rng),
                    random_tensor("e2_b", DType::f32, {m, n}, rng)};
        const auto gate = ref::unary(ops::Unary::Silu, ref::matmul(m, n, k, c.inputs[0].values, c.inputs[1].values), 0);
        std::vector<double> want(gate.size());
        for (size_t i = 0; i < want.size(); ++i) want[i] = gate[i] * c.inputs[2].values[i];
        c.expected = {expected_output(c, 0, want)};
        c.tolerance = sum_tolerance(ref::matmul(m, n, k, abs_values(c.inputs[0].values), abs_values(c.inputs[1].values)));
        out.push_back(std::move(c));
      }
    }
  }
  for (int64_t cols : {int64_t{5}, int64_t{64}, int64_t{257}}) {  // out = rms_norm(x) * weight
    const int64_t rows = 3;
    OpCase c = make_case("fused", fold(ops::rms_norm(1e-5), ops::binary(ops::Binary::Mul, 2, {true, false}), "a", "e1_"),
                         {{"rows", rows}, {"cols", cols}});
    c.inputs = {random_tensor("x", DType::f32, {rows, cols}, rng), random_tensor("e1_b", DType::f32, {1, cols}, rng)};
    const auto norm = ref::rms_norm(rows, cols, 1e-5, c.inputs[0].values);
    std::vector<double> want(norm.size());
    for (size_t i = 0; i < want.size(); ++i) want[i] = norm[i] * c.inputs[1].values[i % static_cast<size_t>(cols)];
    c.expected = {expected_output(c, 0, want)};
    c.tolerance = sum_tolerance(want);
    out.push_back(std::move(c));
  }
}

using Family = void (*)(std::vector<OpCase>&, Rng&);

const std::vector<std::pair<std::string, Family>>& families() {
  static const std::vector<std::pair<std::string, Family>> list = {
      {"unary", unary_cases},         {"binary", binary_cases},       {"convert", convert_cases},
      {"matmul", matmul_cases},       {"embedding", embedding_cases}, {"normalization", normalization_cases},
      {"reduction", reduction_cases}, {"rope", rope_cases},           {"attention", attention_cases},
      {"views", view_cases},          {"fused", fused_cases},
  };
  return list;
}

}  // namespace

std::vector<std::string> op_families() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : families()) names.push_back(name);
  return names;
}

std::vector<OpCase> op_cases(const std::string& family, uint64_t seed) {
  std::vector<OpCase> cases;
  bool found = family.empty();
  for (const auto& [name, fn] : families()) {
    if (!family.empty() && name != family) continue;
    found = true;
    // Each family draws from its own stream, so one family's cases do not change another's.
    Rng rng(seed ^ std::hash<std::string>()(name));
    fn(cases, rng);
  }
  KILN_CHECK(found, "no op family named {}", family);
  for (OpCase& c : cases) {
    KILN_CHECK(c.inputs.size() == c.def.inputs.size(), "{}: {} inputs for {}", c.name, c.inputs.size(), c.def.inputs.size());
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      KILN_CHECK(c.inputs[i].name == c.def.inputs[i].name && c.inputs[i].dtype == c.def.inputs[i].dtype &&
                     c.inputs[i].shape == shape_of(c, c.def.inputs[i]),
                 "{}: input {} does not match its declaration", c.name, c.inputs[i].name);
    }
  }
  return cases;
}

HostTensor random_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape, Rng& rng, double lo, double hi) {
  const int64_t elements = product(shape);
  if (is_quantized(dtype)) {
    HostTensor t{name, dtype, std::move(shape), random_blocks(dtype, elements, rng), {}};
    t.values = values_of_blocks(dtype, t.bytes, elements);
    return t;
  }
  std::vector<double> values(elements);
  const bool integer = dtype == DType::i8 || dtype == DType::i16 || dtype == DType::i32 || dtype == DType::i64;
  for (double& v : values) {
    v = integer ? static_cast<double>(uniform_int(rng, static_cast<int64_t>(lo), static_cast<int64_t>(hi))) : uniform(rng, lo, hi);
  }
  return tensor_of(name, dtype, std::move(shape), values);
}

HostTensor tensor_of(const std::string& name, DType dtype, std::vector<int64_t> shape, const std::vector<double>& values) {
  KILN_CHECK(!is_quantized(dtype), "tensor_of a block format ({})", dtype_name(dtype));
  KILN_CHECK(static_cast<int64_t>(values.size()) == product(shape), "{} values for {}", values.size(), name);
  HostTensor t{name, dtype, std::move(shape), {}, {}};
  const auto put = [&t](const auto v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    t.bytes.insert(t.bytes.end(), p, p + sizeof v);
  };
  for (double v : values) {
    switch (dtype) {
      case DType::f32: put(static_cast<float>(v)); break;
      case DType::f64: put(v); break;
      case DType::f16: put(f32_to_f16(static_cast<float>(v))); break;
      case DType::bf16: put(f32_to_bf16(static_cast<float>(v))); break;
      case DType::i8: put(static_cast<int8_t>(v)); break;
      case DType::i16: put(static_cast<int16_t>(v)); break;
      case DType::i32: put(static_cast<int32_t>(v)); break;
      case DType::i64: put(static_cast<int64_t>(v)); break;
      default: KILN_CHECK(false, "tensor_of {}", dtype_name(dtype));
    }
  }
  t.values = decode(dtype, t.bytes);
  return t;
}

std::vector<double> decode(DType dtype, const std::vector<uint8_t>& bytes) {
  std::vector<double> values;
  const auto get = [&bytes, &values](auto zero, auto convert) {
    const size_t size = sizeof zero;
    for (size_t at = 0; at + size <= bytes.size(); at += size) {
      decltype(zero) v;
      std::memcpy(&v, &bytes[at], size);
      values.push_back(convert(v));
    }
  };
  const auto same = [](auto v) { return static_cast<double>(v); };
  switch (dtype) {
    case DType::f32: get(float{}, same); break;
    case DType::f64: get(double{}, same); break;
    case DType::f16: get(uint16_t{}, [](uint16_t h) { return static_cast<double>(f16_to_f32(h)); }); break;
    case DType::bf16: get(uint16_t{}, [](uint16_t h) { return static_cast<double>(bf16_to_f32(h)); }); break;
    case DType::i8: get(int8_t{}, same); break;
    case DType::i16: get(int16_t{}, same); break;
    case DType::i32: get(int32_t{}, same); break;
    case DType::i64: get(int64_t{}, same); break;
    default: {
      const DTypeInfo& info = dtype_info(dtype);
      return values_of_blocks(dtype, bytes, static_cast<int64_t>(bytes.size() / info.block_bytes * info.block_size));
    }
  }
  return values;
}

std::string check(const HostTensor& expected, const std::vector<double>& got, const Tolerance& tolerance) {
  if (got.size() != expected.values.size()) {
    return fmt::format("{}: {} values, expected {}", expected.name, got.size(), expected.values.size());
  }
  std::string report;
  size_t bad = 0, worst = 0;
  double worst_excess = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double want = expected.values[i], have = got[i];
    bool ok;
    double excess = 0;
    if (std::isnan(want) || std::isnan(have)) {
      ok = std::isnan(want) && std::isnan(have);
    } else if (std::isinf(want) || std::isinf(have)) {
      ok = want == have;
    } else {
      const double bound = tolerance.atol + tolerance.rtol * std::fabs(want);
      ok = std::fabs(have - want) <= bound;
      excess = bound > 0 ? std::fabs(have - want) / bound : kInf;
    }
    if (ok) continue;
    if (bad < 5) report += fmt::format("\n  {}[{}] = {:.9g}, expected {:.9g}", expected.name, i, have, want);
    if (bad == 0 || excess > worst_excess) {
      worst = i;
      worst_excess = excess;
    }
    ++bad;
  }
  if (bad == 0) return "";
  return fmt::format("{} of {} elements of {} differ (worst at {}: {:.9g}, expected {:.9g}, {:.3g} x the bound):",
                     bad, got.size(), expected.name, worst, got[worst], expected.values[worst], worst_excess) +
         report;
}

}  // namespace kiln::test
