// View and copy operators: reshape, permute, slice, concat, and kv_write (a scatter into the
// cache's dtype). Each is one stage that reads its input, or writes its output, at a remapped
// index.
#include <algorithm>

#include "base/error.h"
#include "kernel/compute/dequant_expr.h"
#include "kernel/compute/op_builder.h"
#include "kernel/compute/ops.h"

namespace kiln::kernel::ops {

using namespace detail;
using ir::Expr;

namespace {

std::string join(const std::vector<int>& values) {
  std::string s;
  for (int v : values) s += std::to_string(v);
  return s;
}

// Views move elements without computing on them: any dtype load_element reads and
// encode_element writes, element for element. f32 keeps the bare name.
std::string with_dtype(std::string name, DType dtype) {
  KILN_CHECK(can_load_element(dtype) && can_encode_element(dtype), "{}: no element-wise view of {}", name,
             dtype_name(dtype));
  return dtype == DType::f32 ? name : name + "_" + std::string(dtype_name(dtype));
}

}  // namespace

ComputeDef reshape(int in_rank, int out_rank, DType dtype) {
  KILN_CHECK(in_rank >= 1 && out_rank >= 1, "reshape from rank {} to rank {}", in_rank, out_rank);
  const auto in_sizes = names("in", in_rank), out_sizes = names("out", out_rank), axes = names("i", out_rank);
  ComputeDef def;
  def.name = with_dtype(fmt::format("reshape_{}d_{}d", in_rank, out_rank), dtype);
  def.inputs = {tensor("x", dtype, vars(in_sizes))};
  def.outputs = {tensor("out", dtype, vars(out_sizes))};
  def.size_params = in_sizes;
  def.size_params.insert(def.size_params.end(), out_sizes.begin(), out_sizes.end());
  // The row-major position of the output element, then the input index at that position.
  Expr flat = ir::var(axes[0]);
  for (int k = 1; k < out_rank; ++k) flat = flat * size(out_sizes[k]) + ir::var(axes[k]);
  std::vector<Expr> in_index(in_rank);
  Expr stride = ir::i64(1);
  for (int k = in_rank - 1; k >= 0; --k) {
    const Expr position = k == in_rank - 1 ? flat : flat / stride;
    in_index[k] = k == 0 ? position : position % size(in_sizes[k]);
    stride = k == in_rank - 1 ? size(in_sizes[k]) : stride * size(in_sizes[k]);
  }
  def.stages = {elementwise_stage("out", axes, vars(out_sizes), read(def.inputs[0], in_index), value_type(dtype))};
  return def;
}

ComputeDef permute(const std::vector<int>& perm, DType dtype) {
  const int rank = static_cast<int>(perm.size());
  std::vector<int> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (int k = 0; k < rank; ++k) KILN_CHECK(sorted[k] == k, "permute by {} is not a permutation", join(perm));
  KILN_CHECK(rank >= 1, "permute of rank 0");
  const auto sizes = names("d", rank), axes = names("i", rank);
  std::vector<Expr> out_shape(rank), in_index(rank);
  for (int k = 0; k < rank; ++k) {
    out_shape[k] = size(sizes[perm[k]]);
    in_index[perm[k]] = ir::var(axes[k]);
  }
  ComputeDef def;
  def.name = with_dtype("permute_" + join(perm), dtype);
  def.inputs = {tensor("x", dtype, vars(sizes))};
  def.outputs = {tensor("out", dtype, out_shape)};
  def.size_params = sizes;
  def.stages = {elementwise_stage("out", axes, out_shape, read(def.inputs[0], in_index), value_type(dtype))};
  return def;
}

ComputeDef slice(int rank, int axis, DType dtype) {
  KILN_CHECK(axis >= 0 && axis < rank, "slice along axis {} of a rank {} tensor", axis, rank);
  const auto sizes = names("d", rank), axes = names("i", rank);
  std::vector<Expr> out_shape = vars(sizes), in_index = vars(axes);
  out_shape[axis] = size("length");
  in_index[axis] = in_index[axis] + size("start");
  ComputeDef def;
  def.name = with_dtype(fmt::format("slice_{}d_axis{}", rank, axis), dtype);
  def.inputs = {tensor("x", dtype, vars(sizes))};
  def.outputs = {tensor("out", dtype, out_shape)};
  def.size_params = sizes;
  def.size_params.insert(def.size_params.end(), {"start", "length"});
  def.stages = {elementwise_stage("out", axes, out_shape, read(def.inputs[0], in_index), value_type(dtype))};
  return def;
}

ComputeDef concat(int rank, int axis, DType dtype) {
  KILN_CHECK(axis >= 0 && axis < rank, "concat along axis {} of rank {} tensors", axis, rank);
  const auto axes = names("i", rank);
  const Expr a_len = size("a_len"), b_len = size("b_len");
  std::vector<Expr> a_shape, b_shape, out_shape;
  ComputeDef def;
  for (int k = 0; k < rank; ++k) {
    if (k == axis) continue;
    def.size_params.push_back("d" + std::to_string(k));
  }
  def.size_params.insert(def.size_params.end(), {"a_len", "b_len"});
  for (int k = 0; k < rank; ++k) {
    const Expr extent = k == axis ? Expr() : size("d" + std::to_string(k));
    a_shape.push_back(k == axis ? a_len : extent);
    b_shape.push_back(k == axis ? b_len : extent);
    out_shape.push_back(k == axis ? a_len + b_len : extent);
  }
  // Both sides of the select are read: each index is clamped into its own part.
  const Expr i = ir::var(axes[axis]);
  std::vector<Expr> a_index = vars(axes), b_index = vars(axes);
  a_index[axis] = ir::min(i, a_len - 1);
  b_index[axis] = ir::max(i - a_len, 0);
  def.name = with_dtype(fmt::format("concat_{}d_axis{}", rank, axis), dtype);
  def.inputs = {tensor("a", dtype, a_shape), tensor("b", dtype, b_shape)};
  def.outputs = {tensor("out", dtype, out_shape)};
  const Expr body = ir::select(i < a_len, read(def.inputs[0], a_index), read(def.inputs[1], b_index));
  def.stages = {elementwise_stage("out", axes, out_shape, body, value_type(dtype))};
  return def;
}

ComputeDef kv_write(DType cache) {
  const Expr t = size("t"), kh = size("kh"), d = size("d"), rows = size("rows");
  const Expr a = ir::var("a"), b = ir::var("b"), e = ir::var("e");
  ComputeDef def;
  def.name = fmt::format("kv_write_{}", dtype_name(cache));
  def.inputs = {tensor("x", DType::f32, {t, kh, d}), tensor("slots", DType::i32, {t})};
  def.outputs = {tensor("cache", cache, {rows, kh, d})};
  def.size_params = {"t", "kh", "d", "rows"};
  const ir::Type type = value_type(cache);
  Stage write = elementwise_stage("cache", {"a", "b", "e"}, {t, kh, d}, ir::cast(type, read(def.inputs[0], {a, b, e})), type);
  write.store_at = {ir::min(ir::max(to_i64(read(def.inputs[1], {a})), 0), rows - 1), b, e};
  def.stages = {write};
  return def;
}

}  // namespace kiln::kernel::ops
