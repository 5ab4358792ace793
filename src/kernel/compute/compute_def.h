// Compute definitions: what each output element of an operator is, with no loops and no target
// (DESIGN.md section 5). Every op, and later every fused group, is one of these; schedules and
// lowering (src/kernel/schedule, src/kernel/lower) turn it into loop IR for each target.
//
// Example, matmul with any weight dtype:
//   out(i, j) = sum_k x(i, k) * w(j, k)
// where `w(j, k)` is an ir::Access that lowering expands into the dtype's dequantization.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "kernel/ir/expr.h"

namespace kiln::kernel {

// A tensor a definition reads or writes. Shapes are row-major, outermost dimension first, over
// symbolic sizes (i64 Vars named in ComputeDef::size_params). Block-quantized dtypes are stored
// as their raw bytes, blocks running along the innermost dimension.
struct TensorDecl {
  std::string name;
  DType dtype = DType::f32;
  std::vector<ir::Expr> shape;
  // Block formats: rows interleaved in groups of this many (base/row_interleave.h); 1: plain.
  int64_t row_interleave = 1;
};

enum class ReduceKind { None, Sum, Max, Min };

// One stage: for every point of `axes` within `extents`, the element is `body` — or, for a
// reduction, `body` combined over every point of `reduce_axes` starting from the identity.
// `body` reads inputs and earlier stages with ir::Access, and the axes as i64 Vars.
//
// An output stage may carry an `epilogue`: an expression of the stage's value (the Var named
// kEpilogueValue) and of inputs read at the stage's axes, stored instead of the value (fused
// element-wise consumers, compute/fuse.h). Reductions apply it once, to the reduced value.
//
// A stage that defines an output normally writes the element at its own point, so its extents
// are the output's shape. With `store_at` (an elementwise output stage only) it writes the
// element at out(store_at...) instead: a scatter, whose indices may read inputs (the slots of a
// paged KV cache). Such an output is updated in place; elements no point reaches keep their
// values, and the definition must keep every index inside the output's shape.
struct Stage {
  std::string name;  // the tensor it defines: an output of the definition, or a temporary
  std::vector<std::string> axes;
  std::vector<ir::Expr> extents;
  std::vector<std::string> reduce_axes;
  std::vector<ir::Expr> reduce_extents;
  ReduceKind reduce = ReduceKind::None;
  ir::Expr body;
  ir::Type type = ir::Type::f32();
  std::vector<ir::Expr> store_at;  // empty: the stage's own point
  ir::Expr epilogue;               // undefined: store the value itself
  // Where defined, a condition on the axes (spatial and reduce) outside which a point is not
  // needed: no consumer reads a spatial point's value there, and a reduction's body there
  // is its identity. Lowering may skip such points (kernel/lower/clip_loops.h); the values
  // must not depend on whether it does. Causal attention: keys after each query's position.
  ir::Expr predicate;
};

// The variable an epilogue reads the stage's value as.
inline constexpr const char* kEpilogueValue = "value";

struct ComputeDef {
  std::string name;                      // kernel name stem, e.g. "matmul_q4_0"
  std::vector<TensorDecl> inputs;
  std::vector<TensorDecl> outputs;       // each defined by the stage of the same name
  std::vector<Stage> stages;             // in order; a stage reads only inputs and earlier stages
  std::vector<std::string> size_params;  // every symbolic size the shapes use
  // Sizes known to be multiples of a number (a quantized row holds whole blocks): schedules
  // may tile by it with no remainder loop. Checked when the definition runs.
  std::map<std::string, int64_t> size_multiples;
};

// The identity of a reduction: 0 for Sum, -inf for Max, +inf for Min.
ir::Expr reduce_identity(ReduceKind kind, ir::Type type);
// combine(a, b) for a reduction.
ir::Expr reduce_combine(ReduceKind kind, ir::Expr a, ir::Expr b);
const char* reduce_kind_name(ReduceKind kind);

// Buffer element type of a tensor: u8 bytes for block formats, u16 bits for f16/bf16, else the
// scalar type itself.
ir::Type storage_type(DType dtype);
// The value type an Access of the tensor yields: f32 for every float or quantized dtype.
ir::Type value_type(DType dtype);

const TensorDecl* find_tensor(const ComputeDef& def, const std::string& name);

// A UserError unless `value` is a multiple of what the definition declares for `size`.
void check_size_multiple(const ComputeDef& def, const std::string& size, int64_t value);

// The definition with some size parameters fixed to constants (a graph whose dimension is
// known when it is compiled): they leave size_params, and loops over them get constant trip
// counts. A constant that breaks a declared multiple is a UserError.
ComputeDef specialize_sizes(const ComputeDef& def, const std::map<std::string, int64_t>& constants);
const Stage* find_stage(const ComputeDef& def, const std::string& name);

// Prints the definition in mathematical form, one line per stage, e.g.
//   out(i, j) = sum[k < n_cols] x(i, k) * w(j, k)
std::string to_string(const ComputeDef& def);

}  // namespace kiln::kernel
