// Row reductions: x f32[rows, cols] -> out[rows, 1] (sum, max, min, mean, argmax).
#include "base/error.h"
#include "kernel/compute/op_builder.h"
#include "kernel/compute/ops.h"

namespace kiln::kernel::ops {

using namespace detail;
using ir::Expr;

ComputeDef reduce(ReduceKind kind, bool mean) {
  KILN_CHECK(kind != ReduceKind::None, "reduce needs a reduction kind");
  KILN_CHECK(!mean || kind == ReduceKind::Sum, "mean is a sum divided by cols, not a {}", reduce_kind_name(kind));
  const Expr rows = size("rows"), cols = size("cols");
  const Expr i = ir::var("i"), k = ir::var("k");
  ComputeDef def;
  def.name = mean ? "mean" : reduce_kind_name(kind);
  def.inputs = {tensor("x", DType::f32, {rows, cols})};
  def.outputs = {tensor("out", DType::f32, {rows, 1})};
  def.size_params = {"rows", "cols"};
  const Expr x = read(def.inputs[0], {i, k});
  if (!mean) {
    def.stages = {reduce_stage("out", {"i", "j"}, {rows, 1}, kind, {"k"}, {cols}, x)};
    return def;
  }
  const Stage total = reduce_stage("total", {"i"}, {rows}, ReduceKind::Sum, {"k"}, {cols}, x);
  def.stages = {total, elementwise_stage("out", {"i", "j"}, {rows, 1}, read(total, {i}) / to_f32(cols))};
  return def;
}

ComputeDef argmax() {
  const Expr rows = size("rows"), cols = size("cols");
  const Expr i = ir::var("i"), k = ir::var("k");
  ComputeDef def;
  def.name = "argmax";
  def.inputs = {tensor("x", DType::f32, {rows, cols})};
  def.outputs = {tensor("out", DType::i32, {rows, 1})};
  def.size_params = {"rows", "cols"};
  const Expr x = read(def.inputs[0], {i, k});
  const Stage mx = reduce_stage("mx", {"i"}, {rows}, ReduceKind::Max, {"k"}, {cols}, x);
  // The first column holding the maximum: the least k where x equals it (cols where it does not).
  const ir::Type i32 = ir::Type::i32();
  const Expr column = ir::select(x == read(mx, {i}), ir::cast(i32, k), ir::cast(i32, cols));
  def.stages = {mx, reduce_stage("out", {"i", "j"}, {rows, 1}, ReduceKind::Min, {"k"}, {cols}, column, i32)};
  return def;
}

}  // namespace kiln::kernel::ops
