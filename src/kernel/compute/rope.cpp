// Rotary position embedding, normal (pairs 2p, 2p + 1) and neox (pairs p, p + n_dims / 2).
#include "base/error.h"
#include "kernel/compute/op_builder.h"
#include "kernel/compute/ops.h"

namespace kiln::kernel::ops {

using namespace detail;
using ir::Expr;
using ir::Intrinsic;

ComputeDef rope(RopeMode mode, int n_dims, double theta, double freq_scale, bool with_freq_factors) {
  KILN_CHECK(n_dims >= 2 && n_dims % 2 == 0, "rope over {} dimensions: needs an even number", n_dims);
  const Expr t = size("t"), h = size("h"), d = size("d");
  const Expr a = ir::var("a"), b = ir::var("b"), j = ir::var("j"), p = ir::var("p");
  const int64_t half = n_dims / 2;
  ComputeDef def;
  def.name = mode == RopeMode::Neox ? "rope_neox" : "rope_norm";
  if (with_freq_factors) def.name += "_ff";
  def.inputs = {tensor("x", DType::f32, {t, h, d}), tensor("pos", DType::i32, {t})};
  if (with_freq_factors) def.inputs.push_back(tensor("freq_factors", DType::f32, {ir::i64(half)}));
  def.outputs = {tensor("out", DType::f32, {t, h, d})};
  def.size_params = {"t", "h", "d"};

  // angle(a, p): how far pair p of token a turns. Its cosine and sine are a table of their own,
  // trig(a, 0, p) and trig(a, 1, p), computed once per token and pair and shared by all heads:
  // computed per element of every head they were 4% of a 512-token prefill (SmolLM2, 12 heads).
  const Expr k = ir::var("k");
  Expr angle = to_f32(read(def.inputs[1], {a})) * freq_scale *
               ir::call(Intrinsic::Pow, {ir::f32(theta), to_f32(p) * (-2.0 / n_dims)});
  if (with_freq_factors) angle = angle / read(def.inputs[2], {p});
  const Stage trig = elementwise_stage(
      "trig", {"a", "k", "p"}, {t, ir::i64(2), ir::i64(half)},
      ir::select(k == 0, ir::call(Intrinsic::Cos, {angle}), ir::call(Intrinsic::Sin, {angle})));

  // Dimension j of a rotated pair (x0, x1): x0 cos - x1 sin for the pair's first, x0 sin + x1 cos
  // for its second. jc keeps the indices of the unselected pass-through side in range.
  const Expr jc = ir::min(j, n_dims - 1);
  const Expr pair = mode == RopeMode::Neox ? jc % half : jc / 2;
  const Expr first = mode == RopeMode::Neox ? jc < half : jc % 2 == 0;
  const Expr x0_index = mode == RopeMode::Neox ? pair : pair * 2;
  const Expr x1_index = mode == RopeMode::Neox ? pair + half : pair * 2 + 1;
  const TensorDecl& x = def.inputs[0];
  const Expr x0 = read(x, {a, b, x0_index}), x1 = read(x, {a, b, x1_index});
  const Expr cos = read(trig, {a, ir::i64(0), pair});
  const Expr sin = read(trig, {a, ir::i64(1), pair});
  const Expr rotated = ir::select(first, x0 * cos - x1 * sin, x0 * sin + x1 * cos);
  const Expr body = ir::select(j < n_dims, rotated, read(x, {a, b, j}));
  def.stages = {trig, elementwise_stage("out", {"a", "b", "j"}, {t, h, d}, body)};
  return def;
}

}  // namespace kiln::kernel::ops
