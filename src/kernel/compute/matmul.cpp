// Contractions and gathers over weights of any dtype: matmul (activation x weight^T) and
// embedding (get_rows). The weight is read with an Access; lowering dequantizes it.
#include "kernel/compute/dequant_expr.h"
#include "kernel/compute/op_builder.h"
#include "kernel/compute/ops.h"

namespace kiln::kernel::ops {

using namespace detail;
using ir::Expr;

ComputeDef matmul(DType weight) {
  KILN_CHECK(can_load_element(weight), "matmul with {} weights: load_element cannot read them", dtype_name(weight));
  const Expr m = size("m"), n = size("n"), k = size("k");
  const Expr i = ir::var("i"), j = ir::var("j"), r = ir::var("r");
  ComputeDef def;
  def.name = fmt::format("matmul_{}", dtype_name(weight));
  def.inputs = {tensor("x", DType::f32, {m, k}), tensor("w", weight, {n, k})};
  def.outputs = {tensor("out", DType::f32, {m, n})};
  const Expr body = read(def.inputs[0], {i, r}) * read(def.inputs[1], {j, r});
  def.stages = {reduce_stage("out", {"i", "j"}, {m, n}, ReduceKind::Sum, {"r"}, {k}, body)};
  def.size_params = {"m", "n", "k"};
  // A quantized weight row is whole blocks.
  if (is_quantized(weight)) def.size_multiples["k"] = dtype_info(weight).block_size;
  return def;
}

ComputeDef embedding(DType weight) {
  KILN_CHECK(can_load_element(weight), "embedding of {} rows: load_element cannot read them", dtype_name(weight));
  const Expr n = size("n"), vocab = size("vocab"), dim = size("dim");
  const Expr i = ir::var("i"), j = ir::var("j");
  ComputeDef def;
  def.name = fmt::format("embedding_{}", dtype_name(weight));
  def.inputs = {tensor("w", weight, {vocab, dim}), tensor("ids", DType::i32, {n})};
  def.outputs = {tensor("out", DType::f32, {n, dim})};
  // A token id comes from outside (a request), so it is clamped rather than trusted.
  const Expr row = ir::min(ir::max(to_i64(read(def.inputs[1], {i})), 0), vocab - 1);
  def.stages = {elementwise_stage("out", {"i", "j"}, {n, dim}, read(def.inputs[0], {row, j}))};
  def.size_params = {"n", "vocab", "dim"};
  return def;
}

}  // namespace kiln::kernel::ops
