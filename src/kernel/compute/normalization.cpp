// Row normalizations over the last dimension of x f32[rows, cols]: rms_norm, layer_norm,
// softmax. Each is a reduction stage (or two) and the elementwise stage that uses it.
#include <limits>

#include "kernel/compute/op_builder.h"
#include "kernel/compute/ops.h"

namespace kiln::kernel::ops {

using namespace detail;
using ir::Expr;
using ir::Intrinsic;

namespace {

// The shared frame: x f32[rows, cols] -> out f32[rows, cols], sizes rows and cols.
ComputeDef row_op(const std::string& name) {
  ComputeDef def;
  def.name = name;
  def.inputs = {tensor("x", DType::f32, {size("rows"), size("cols")})};
  def.outputs = {tensor("out", DType::f32, {size("rows"), size("cols")})};
  def.size_params = {"rows", "cols"};
  return def;
}

}  // namespace

ComputeDef rms_norm(double eps) {
  ComputeDef def = row_op("rms_norm");
  const Expr rows = size("rows"), cols = size("cols");
  const Expr i = ir::var("i"), j = ir::var("j"), k = ir::var("k");
  const TensorDecl& x = def.inputs[0];
  const Stage ss = reduce_stage("ss", {"i"}, {rows}, ReduceKind::Sum, {"k"}, {cols}, read(x, {i, k}) * read(x, {i, k}));
  const Expr scale = ir::call(Intrinsic::Rsqrt, {read(ss, {i}) / to_f32(cols) + eps});
  def.stages = {ss, elementwise_stage("out", {"i", "j"}, {rows, cols}, read(x, {i, j}) * scale)};
  return def;
}

ComputeDef layer_norm(double eps) {
  ComputeDef def = row_op("layer_norm");
  const Expr rows = size("rows"), cols = size("cols");
  const Expr i = ir::var("i"), j = ir::var("j"), k = ir::var("k");
  const TensorDecl& x = def.inputs[0];
  // Two passes (mean, then the deviations from it), which stays accurate when the mean is large.
  const Stage xsum = reduce_stage("xsum", {"i"}, {rows}, ReduceKind::Sum, {"k"}, {cols}, read(x, {i, k}));
  const Expr mean = read(xsum, {i}) / to_f32(cols);
  const Expr deviation = read(x, {i, k}) - mean;
  const Stage dev = reduce_stage("dev", {"i"}, {rows}, ReduceKind::Sum, {"k"}, {cols}, deviation * deviation);
  const Expr scale = ir::call(Intrinsic::Rsqrt, {read(dev, {i}) / to_f32(cols) + eps});
  def.stages = {xsum, dev, elementwise_stage("out", {"i", "j"}, {rows, cols}, (read(x, {i, j}) - mean) * scale)};
  return def;
}

ComputeDef softmax(double scale, bool with_mask, DType mask) {
  KILN_CHECK(mask == DType::f32 || mask == DType::f16, "softmax with a {} mask", dtype_name(mask));
  std::string name = with_mask ? "softmax_mask" : "softmax";
  if (with_mask && mask != DType::f32) name += "_" + std::string(dtype_name(mask));
  ComputeDef def = row_op(name);
  const Expr rows = size("rows"), cols = size("cols");
  const Expr i = ir::var("i"), j = ir::var("j"), k = ir::var("k");
  if (with_mask) def.inputs.push_back(tensor("mask", mask, {rows, cols}));
  const auto logit = [&](const Expr& col) {
    Expr y = read(def.inputs[0], {i, col});
    if (scale != 1.0) y = y * scale;
    return with_mask ? y + read(def.inputs[1], {i, col}) : y;
  };
  const Stage mx = reduce_stage("mx", {"i"}, {rows}, ReduceKind::Max, {"k"}, {cols}, logit(k));
  const auto weight = [&](const Expr& col) { return ir::call(Intrinsic::Exp, {logit(col) - read(mx, {i})}); };
  const Stage sum = reduce_stage("sum", {"i"}, {rows}, ReduceKind::Sum, {"k"}, {cols}, weight(k));
  def.stages = {mx, sum, elementwise_stage("out", {"i", "j"}, {rows, cols}, weight(j) / read(sum, {i}))};
  return def;
}

}  // namespace kiln::kernel::ops
