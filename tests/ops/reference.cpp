#include "ops/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>

#include "base/error.h"

namespace kiln::test::ref {

using kernel::ReduceKind;
using kernel::ops::Binary;
using kernel::ops::RopeMode;
using kernel::ops::Unary;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

int64_t product(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

// Row-major strides of `shape`.
Shape strides(const Shape& shape) {
  Shape s(shape.size(), 1);
  for (int k = static_cast<int>(shape.size()) - 2; k >= 0; --k) s[k] = s[k + 1] * shape[k + 1];
  return s;
}

// The multi-index of flat position `flat` in `shape`.
Shape unflatten(int64_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (int k = static_cast<int>(shape.size()) - 1; k >= 0; --k) {
    index[k] = flat % shape[k];
    flat /= shape[k];
  }
  return index;
}

// Nearest value with `mantissa_bits` bits after the leading one, exponents clamped below at
// `min_exponent` (subnormals), overflowing to infinity above `max_finite`.
double round_binary(double x, int mantissa_bits, int min_exponent, double max_finite) {
  if (std::isnan(x) || std::isinf(x) || x == 0) return x;
  int exponent;
  std::frexp(std::fabs(x), &exponent);  // |x| = m 2^exponent, m in [0.5, 1)
  const int leading = std::max(exponent - 1, min_exponent);
  const double ulp = std::ldexp(1.0, leading - mantissa_bits);
  const double rounded = std::nearbyint(std::fabs(x) / ulp) * ulp;  // ties to even
  return std::copysign(rounded > max_finite ? kInf : rounded, x);
}

}  // namespace

double unary(Unary op, double x, double attr) {
  switch (op) {
    case Unary::Silu: return x / (1 + std::exp(-x));
    case Unary::Gelu: return 0.5 * x * (1 + std::erf(x / std::numbers::sqrt2));
    case Unary::GeluTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
    case Unary::Exp: return std::exp(x);
    case Unary::Tanh: return std::tanh(x);
    case Unary::Neg: return -x;
    case Unary::Rsqrt: return 1 / std::sqrt(x);
    case Unary::Scale: return x * attr;
    case Unary::Softcap: return attr * std::tanh(x / attr);
  }
  KILN_CHECK(false, "unknown unary op");
  return 0;
}

Values unary(Unary op, const Values& x, double attr) {
  Values out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = unary(op, x[i], attr);
  return out;
}

Values binary(Binary op, const Shape& shape, const std::vector<bool>& b_broadcast, const Values& a, const Values& b) {
  Shape b_shape = shape;
  for (size_t k = 0; k < b_broadcast.size(); ++k) {
    if (b_broadcast[k]) b_shape[k] = 1;
  }
  const Shape b_strides = strides(b_shape);
  Values out(a.size());
  for (int64_t flat = 0; flat < static_cast<int64_t>(a.size()); ++flat) {
    const Shape index = unflatten(flat, shape);
    int64_t b_flat = 0;
    for (size_t k = 0; k < shape.size(); ++k) b_flat += (b_shape[k] == 1 ? 0 : index[k]) * b_strides[k];
    const double x = a[flat], y = b[b_flat];
    switch (op) {
      case Binary::Add: out[flat] = x + y; break;
      case Binary::Sub: out[flat] = x - y; break;
      case Binary::Mul: out[flat] = x * y; break;
      case Binary::Div: out[flat] = x / y; break;
    }
  }
  return out;
}

double round_to_dtype(DType to, double x) {
  switch (to) {
    case DType::f64: return x;
    case DType::f32: return static_cast<double>(static_cast<float>(x));
    case DType::f16: return round_binary(x, 10, -14, 65504.0);
    case DType::bf16: return round_binary(x, 7, -126, std::ldexp(255.0, 120));
    case DType::i8: case DType::i16: case DType::i32: case DType::i64: return std::trunc(x);
    default: break;
  }
  KILN_CHECK(false, "no rounding into {}", dtype_name(to));
  return 0;
}

Values convert(DType to, const Values& x) {
  Values out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = round_to_dtype(to, x[i]);
  return out;
}

Values matmul(int64_t m, int64_t n, int64_t k, const Values& x, const Values& w) {
  Values out(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t r = 0; r < k; ++r) sum += x[i * k + r] * w[j * k + r];
      out[i * n + j] = sum;
    }
  }
  return out;
}

Values embedding(int64_t n, int64_t vocab, int64_t dim, const Values& w, const Values& ids) {
  Values out(n * dim);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = std::clamp(static_cast<int64_t>(ids[i]), int64_t{0}, vocab - 1);
    std::copy_n(w.begin() + row * dim, dim, out.begin() + i * dim);
  }
  return out;
}

Values rms_norm(int64_t rows, int64_t cols, double eps, const Values& x) {
  Values out(x.size());
  for (int64_t i = 0; i < rows; ++i) {
    const double* row = &x[i * cols];
    double mean_square = 0;
    for (int64_t j = 0; j < cols; ++j) mean_square += row[j] * row[j];
    mean_square /= static_cast<double>(cols);
    for (int64_t j = 0; j < cols; ++j) out[i * cols + j] = row[j] / std::sqrt(mean_square + eps);
  }
  return out;
}

Values layer_norm(int64_t rows, int64_t cols, double eps, const Values& x) {
  Values out(x.size());
  for (int64_t i = 0; i < rows; ++i) {
    const double* row = &x[i * cols];
    const double mean = std::accumulate(row, row + cols, 0.0) / static_cast<double>(cols);
    double variance = 0;
    for (int64_t j = 0; j < cols; ++j) variance += (row[j] - mean) * (row[j] - mean);
    variance /= static_cast<double>(cols);
    for (int64_t j = 0; j < cols; ++j) out[i * cols + j] = (row[j] - mean) / std::sqrt(variance + eps);
  }
  return out;
}

Values softmax(int64_t rows, int64_t cols, double scale, const Values& x, const Values& mask) {
  Values out(x.size());
  for (int64_t i = 0; i < rows; ++i) {
    Values y(cols);
    for (int64_t j = 0; j < cols; ++j) y[j] = x[i * cols + j] * scale + (mask.empty() ? 0.0 : mask[i * cols + j]);
    const double top = *std::max_element(y.begin(), y.end());
    double total = 0;
    for (double& v : y) total += (v = std::exp(v - top));
    for (int64_t j = 0; j < cols; ++j) out[i * cols + j] = y[j] / total;
  }
  return out;
}

Values reduce(ReduceKind kind, bool mean, int64_t rows, int64_t cols, const Values& x) {
  Values out(rows);
  for (int64_t i = 0; i < rows; ++i) {
    const auto first = x.begin() + i * cols, last = first + cols;
    switch (kind) {
      case ReduceKind::Sum: out[i] = std::accumulate(first, last, 0.0); break;
      case ReduceKind::Max: out[i] = *std::max_element(first, last); break;
      case ReduceKind::Min: out[i] = *std::min_element(first, last); break;
      case ReduceKind::None: KILN_CHECK(false, "reduce of kind none");
    }
    if (mean) out[i] /= static_cast<double>(cols);
  }
  return out;
}

Values argmax(int64_t rows, int64_t cols, const Values& x) {
  Values out(rows);
  for (int64_t i = 0; i < rows; ++i) {
    const auto first = x.begin() + i * cols;
    out[i] = static_cast<double>(std::max_element(first, first + cols) - first);  // the first maximum
  }
  return out;
}

Values rope(RopeMode mode, int n_dims, double theta, double freq_scale, int64_t t, int64_t h, int64_t d,
            const Values& x, const Values& pos, const Values& freq_factors) {
  Values out = x;  // dimensions from n_dims on pass through
  const int half = n_dims / 2;
  for (int64_t a = 0; a < t; ++a) {
    for (int64_t b = 0; b < h; ++b) {
      const int64_t base = (a * h + b) * d;
      for (int p = 0; p < half; ++p) {
        double angle = pos[a] * freq_scale * std::pow(theta, -2.0 * p / n_dims);
        if (!freq_factors.empty()) angle /= freq_factors[p];
        const int64_t first = mode == RopeMode::Neox ? p : 2 * p;
        const int64_t second = mode == RopeMode::Neox ? p + half : 2 * p + 1;
        const double x0 = x[base + first], x1 = x[base + second];
        out[base + first] = x0 * std::cos(angle) - x1 * std::sin(angle);
        out[base + second] = x0 * std::sin(angle) + x1 * std::cos(angle);
      }
    }
  }
  return out;
}

Values attention(double scale, double softcap, bool causal, int64_t window, int64_t t, int64_t h, int64_t kh,
                 int64_t d, int64_t s, const Values& q, const Values& k, const Values& v) {
  Values out(t * h * d, 0.0);
  const int64_t group = h / kh;
  for (int64_t a = 0; a < t; ++a) {
    const int64_t position = s - t + a;
    for (int64_t b = 0; b < h; ++b) {
      const int64_t kv_head = b / group;
      Values weights(s);
      for (int64_t c = 0; c < s; ++c) {
        const bool visible = (!causal || c <= position) && (window <= 0 || c > position - window);
        if (!visible) {
          weights[c] = -kInf;
          continue;
        }
        double dot = 0;
        for (int64_t r = 0; r < d; ++r) dot += q[(a * h + b) * d + r] * k[(c * kh + kv_head) * d + r];
        dot *= scale;
        weights[c] = softcap > 0 ? softcap * std::tanh(dot / softcap) : dot;
      }
      const double top = *std::max_element(weights.begin(), weights.end());
      double total = 0;
      for (double& w : weights) total += (w = std::exp(w - top));
      for (int64_t c = 0; c < s; ++c) {
        for (int64_t e = 0; e < d; ++e) out[(a * h + b) * d + e] += weights[c] / total * v[(c * kh + kv_head) * d + e];
      }
    }
  }
  return out;
}

Values permute(const Shape& shape, const std::vector<int>& perm, const Values& x) {
  Shape out_shape(shape.size());
  for (size_t k = 0; k < perm.size(); ++k) out_shape[k] = shape[perm[k]];
  const Shape in_strides = strides(shape);
  Values out(x.size());
  for (int64_t flat = 0; flat < static_cast<int64_t>(out.size()); ++flat) {
    const Shape index = unflatten(flat, out_shape);
    int64_t in_flat = 0;
    for (size_t k = 0; k < perm.size(); ++k) in_flat += index[k] * in_strides[perm[k]];
    out[flat] = x[in_flat];
  }
  return out;
}

Values slice(const Shape& shape, int axis, int64_t start, int64_t length, const Values& x) {
  Shape out_shape = shape;
  out_shape[axis] = length;
  const Shape in_strides = strides(shape);
  Values out(product(out_shape));
  for (int64_t flat = 0; flat < static_cast<int64_t>(out.size()); ++flat) {
    Shape index = unflatten(flat, out_shape);
    index[axis] += start;
    int64_t in_flat = 0;
    for (size_t k = 0; k < shape.size(); ++k) in_flat += index[k] * in_strides[k];
    out[flat] = x[in_flat];
  }
  return out;
}

Values concat(const Shape& a_shape, const Shape& b_shape, int axis, const Values& a, const Values& b) {
  // Outer blocks (dimensions before axis) alternate an a slab and a b slab.
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; ++k) outer *= a_shape[k];
  for (size_t k = axis + 1; k < a_shape.size(); ++k) inner *= a_shape[k];
  const int64_t a_slab = a_shape[axis] * inner, b_slab = b_shape[axis] * inner;
  Values out;
  out.reserve(a.size() + b.size());
  for (int64_t o = 0; o < outer; ++o) {
    out.insert(out.end(), a.begin() + o * a_slab, a.begin() + (o + 1) * a_slab);
    out.insert(out.end(), b.begin() + o * b_slab, b.begin() + (o + 1) * b_slab);
  }
  return out;
}

}  // namespace kiln::test::ref
