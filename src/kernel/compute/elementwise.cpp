// Elementwise operators: unary functions, binary arithmetic with broadcasting, dtype casts.
#include <cmath>
#include <numbers>

#include "base/error.h"
#include "kernel/compute/dequant_expr.h"
#include "kernel/compute/op_builder.h"
#include "kernel/compute/ops.h"

namespace kiln::kernel::ops {

using namespace detail;
using ir::Expr;
using ir::Intrinsic;

const char* unary_name(Unary op) {
  switch (op) {
    case Unary::Silu: return "silu";
    case Unary::Gelu: return "gelu";
    case Unary::GeluTanh: return "gelu_tanh";
    case Unary::Exp: return "exp";
    case Unary::Tanh: return "tanh";
    case Unary::Neg: return "neg";
    case Unary::Rsqrt: return "rsqrt";
    case Unary::Scale: return "scale";
    case Unary::Softcap: return "softcap";
  }
  return "?";
}

Expr unary_expr(Unary op, Expr x, double attr) {
  switch (op) {
    case Unary::Silu: return x / (1.0 + ir::call(Intrinsic::Exp, {-x}));
    case Unary::Gelu: return 0.5 * x * (1.0 + ir::call(Intrinsic::Erf, {x * (1.0 / std::numbers::sqrt2)}));
    case Unary::GeluTanh: {
      const double sqrt_2_over_pi = std::numbers::sqrt2 / std::sqrt(std::numbers::pi);
      // 0.5 x (1 + tanh(u)) written as x / (1 + exp(-2u)), the same function: the tanh form
      // cancels catastrophically in f32 for negative x (1 + tanh(u) -> 0).
      const ir::Expr u = sqrt_2_over_pi * (x + 0.044715 * x * x * x);
      return x / (1.0 + ir::call(Intrinsic::Exp, {-2.0 * u}));
    }
    case Unary::Exp: return ir::call(Intrinsic::Exp, {x});
    case Unary::Tanh: return ir::call(Intrinsic::Tanh, {x});
    case Unary::Neg: return -x;
    case Unary::Rsqrt: return ir::call(Intrinsic::Rsqrt, {x});
    case Unary::Scale: return x * attr;
    case Unary::Softcap: return attr * ir::call(Intrinsic::Tanh, {x / attr});
  }
  KILN_UNREACHABLE("unknown unary op {}", static_cast<int>(op));
  return Expr();
}

ComputeDef unary(Unary op, int rank, double attr) {
  KILN_CHECK(rank >= 1, "unary {} of rank {}", unary_name(op), rank);
  KILN_CHECK(op != Unary::Softcap || attr > 0, "softcap needs a positive cap, got {}", attr);
  const auto sizes = names("d", rank), axes = names("i", rank);
  ComputeDef def;
  def.name = std::string(unary_name(op)) + "_" + std::to_string(rank) + "d";
  def.inputs = {tensor("x", DType::f32, vars(sizes))};
  def.outputs = {tensor("out", DType::f32, vars(sizes))};
  def.stages = {elementwise_stage("out", axes, vars(sizes), unary_expr(op, read(def.inputs[0], vars(axes)), attr))};
  def.size_params = sizes;
  return def;
}

const char* binary_name(Binary op) {
  switch (op) {
    case Binary::Add: return "add";
    case Binary::Sub: return "sub";
    case Binary::Mul: return "mul";
    case Binary::Div: return "div";
  }
  return "?";
}

Expr binary_expr(Binary op, Expr a, Expr b) {
  switch (op) {
    case Binary::Add: return a + b;
    case Binary::Sub: return a - b;
    case Binary::Mul: return a * b;
    case Binary::Div: return a / b;
  }
  KILN_UNREACHABLE("unknown binary op {}", static_cast<int>(op));
  return Expr();
}

ComputeDef binary(Binary op, int rank, const std::vector<bool>& b_broadcast) {
  KILN_CHECK(rank >= 1, "binary {} of rank {}", binary_name(op), rank);
  KILN_CHECK(b_broadcast.empty() || static_cast<int>(b_broadcast.size()) == rank,
             "binary {}: {} broadcast flags for rank {}", binary_name(op), b_broadcast.size(), rank);
  const auto sizes = names("d", rank), axes = names("i", rank);
  std::vector<Expr> b_shape, b_index;
  std::string suffix;
  for (int k = 0; k < rank; ++k) {
    const bool broadcast = !b_broadcast.empty() && b_broadcast[k];
    b_shape.push_back(broadcast ? ir::i64(1) : size(sizes[k]));
    b_index.push_back(broadcast ? ir::i64(0) : ir::var(axes[k]));
    suffix += broadcast ? "1" : "0";
  }
  ComputeDef def;
  def.name = std::string(binary_name(op)) + "_" + std::to_string(rank) + "d";
  if (suffix.find('1') != std::string::npos) def.name += "_b" + suffix;
  def.inputs = {tensor("a", DType::f32, vars(sizes)), tensor("b", DType::f32, b_shape)};
  def.outputs = {tensor("out", DType::f32, vars(sizes))};
  Expr body = binary_expr(op, read(def.inputs[0], vars(axes)), read(def.inputs[1], b_index));
  def.stages = {elementwise_stage("out", axes, vars(sizes), body)};
  def.size_params = sizes;
  return def;
}

namespace {

// x as `to` stores it, read back as its value type. The rounding is in the stage's body, not
// left to the store, so that a consumer fused into this stage's epilogue reads the rounded
// value too (a fused f32 -> f16 -> f32 would otherwise round nothing).
Expr rounded_to(DType to, Expr x) {
  if (to == DType::f16) return ir::call(Intrinsic::F16BitsToF32, {encode_element(DType::f16, std::move(x))});
  if (to == DType::bf16) {
    const Expr bits = encode_element(DType::bf16, std::move(x));
    return ir::reinterpret(ir::Type::f32(), ir::cast(ir::Type::u32(), bits) << 16);
  }
  return ir::cast(value_type(to), std::move(x));
}

}  // namespace

ComputeDef convert(DType from, DType to, int rank) {
  KILN_CHECK(rank >= 1, "convert of rank {}", rank);
  const auto sizes = names("d", rank), axes = names("i", rank);
  const ir::Type type = value_type(to);
  ComputeDef def;
  def.name = fmt::format("convert_{}_{}_{}d", dtype_name(from), dtype_name(to), rank);
  def.inputs = {tensor("x", from, vars(sizes))};
  def.outputs = {tensor("out", to, vars(sizes))};
  def.stages = {elementwise_stage("out", axes, vars(sizes), rounded_to(to, read(def.inputs[0], vars(axes))), type)};
  def.size_params = sizes;
  return def;
}

}  // namespace kiln::kernel::ops
