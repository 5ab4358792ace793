// Small helpers the ops/*.cpp files share to write compute definitions readably. Internal to
// src/kernel/compute.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "kernel/compute/compute_def.h"

namespace kiln::kernel::ops::detail {

// A symbolic size or an axis: an i64 Var.
inline ir::Expr size(const std::string& name) { return ir::var(name); }

// Names prefix0, prefix1, ... and their Vars.
inline std::vector<std::string> names(const std::string& prefix, int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}
inline std::vector<ir::Expr> vars(const std::vector<std::string>& names) {
  std::vector<ir::Expr> out;
  for (const std::string& n : names) out.push_back(ir::var(n));
  return out;
}

inline TensorDecl tensor(std::string name, DType dtype, std::vector<ir::Expr> shape) {
  return TensorDecl{std::move(name), dtype, std::move(shape)};
}

// t(indices...) as an Access of t's value type.
inline ir::Expr read(const TensorDecl& t, std::vector<ir::Expr> indices) {
  KILN_CHECK(indices.size() == t.shape.size(), "{} read with {} indices", t.name, indices.size());
  return ir::Access::make(value_type(t.dtype), t.name, std::move(indices));
}

// A stage's value read back by a later stage.
inline ir::Expr read(const Stage& s, std::vector<ir::Expr> indices) {
  KILN_CHECK(indices.size() == s.axes.size(), "{} read with {} indices", s.name, indices.size());
  return ir::Access::make(s.type, s.name, std::move(indices));
}

// A stage defining every element of `t` (or a temporary of that shape) as `body`.
inline Stage elementwise_stage(const std::string& name, std::vector<std::string> axes, std::vector<ir::Expr> extents,
                               ir::Expr body, ir::Type type = ir::Type::f32()) {
  Stage s;
  s.name = name;
  s.axes = std::move(axes);
  s.extents = std::move(extents);
  s.body = std::move(body);
  s.type = type;
  return s;
}

inline Stage reduce_stage(const std::string& name, std::vector<std::string> axes, std::vector<ir::Expr> extents,
                          ReduceKind kind, std::vector<std::string> reduce_axes, std::vector<ir::Expr> reduce_extents,
                          ir::Expr body, ir::Type type = ir::Type::f32()) {
  Stage s = elementwise_stage(name, std::move(axes), std::move(extents), std::move(body), type);
  s.reduce = kind;
  s.reduce_axes = std::move(reduce_axes);
  s.reduce_extents = std::move(reduce_extents);
  return s;
}

inline ir::Expr to_f32(ir::Expr e) { return ir::cast(ir::Type::f32(), std::move(e)); }
inline ir::Expr to_i64(ir::Expr e) { return ir::cast(ir::Type::i64(), std::move(e)); }

}  // namespace kiln::kernel::ops::detail
