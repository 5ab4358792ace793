#include "kernel/compute/compute_def.h"

#include <limits>

#include "base/error.h"
#include "kernel/ir/printer.h"
#include "kernel/ir/visitor.h"

namespace kiln::kernel {

using ir::Expr;
using ir::Type;

namespace {

// The smallest and largest value of an integer type (a u64's largest as its i64 bit pattern).
int64_t int_lowest(Type type) {
  if (type.is_uint()) return 0;
  return type.bits >= 64 ? std::numeric_limits<int64_t>::min() : -(int64_t{1} << (type.bits - 1));
}

int64_t int_highest(Type type) {
  if (type.bits >= 64) return type.is_uint() ? -1 : std::numeric_limits<int64_t>::max();
  return type.is_uint() ? (int64_t{1} << type.bits) - 1 : (int64_t{1} << (type.bits - 1)) - 1;
}

}  // namespace

Expr reduce_identity(ReduceKind kind, Type type) {
  const double inf = std::numeric_limits<double>::infinity();
  const bool is_float = type.is_float();
  switch (kind) {
    case ReduceKind::Sum:
      return is_float ? ir::FloatImm::make(type, 0.0) : ir::IntImm::make(type, 0);
    case ReduceKind::Max:
      return is_float ? ir::FloatImm::make(type, -inf) : ir::IntImm::make(type, int_lowest(type));
    case ReduceKind::Min:
      return is_float ? ir::FloatImm::make(type, inf) : ir::IntImm::make(type, int_highest(type));
    case ReduceKind::None: break;
  }
  KILN_UNREACHABLE("reduce_identity of a stage that is not a reduction");
  return Expr();
}

Expr reduce_combine(ReduceKind kind, Expr a, Expr b) {
  switch (kind) {
    case ReduceKind::Sum: return std::move(a) + std::move(b);
    case ReduceKind::Max: return ir::max(std::move(a), std::move(b));
    case ReduceKind::Min: return ir::min(std::move(a), std::move(b));
    case ReduceKind::None: break;
  }
  KILN_UNREACHABLE("reduce_combine of a stage that is not a reduction");
  return Expr();
}

const char* reduce_kind_name(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::None: return "none";
    case ReduceKind::Sum: return "sum";
    case ReduceKind::Max: return "max";
    case ReduceKind::Min: return "min";
  }
  return "?";
}

Type storage_type(DType dtype) {
  if (is_quantized(dtype)) return Type::u8();
  switch (dtype) {
    case DType::f32: return Type::f32();
    case DType::f64: return Type::f64();
    case DType::f16:
    case DType::bf16: return Type::u16();
    case DType::i8: return Type::i8();
    case DType::i16: return Type::i16();
    case DType::i32: return Type::i32();
    case DType::i64: return Type::i64();
    default: break;
  }
  KILN_UNREACHABLE("no storage type for dtype {}", dtype_name(dtype));
  return Type();
}

Type value_type(DType dtype) {
  switch (dtype) {
    case DType::i8: return Type::i8();
    case DType::i16: return Type::i16();
    case DType::i32: return Type::i32();
    case DType::i64: return Type::i64();
    default: return Type::f32();
  }
}

const TensorDecl* find_tensor(const ComputeDef& def, const std::string& name) {
  for (const TensorDecl& t : def.inputs) {
    if (t.name == name) return &t;
  }
  for (const TensorDecl& t : def.outputs) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const Stage* find_stage(const ComputeDef& def, const std::string& name) {
  for (const Stage& s : def.stages) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

namespace {

std::string tensor_signature(const TensorDecl& t) {
  std::string s = t.name + ": " + std::string(dtype_name(t.dtype)) + "[";
  for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + ir::to_string(t.shape[i]);
  s += "]";
  if (t.row_interleave > 1) s += fmt::format(" rows interleaved by {}", t.row_interleave);
  return s;
}

std::string domain(const std::vector<std::string>& axes, const std::vector<Expr>& extents) {
  std::string s;
  for (size_t i = 0; i < axes.size(); ++i) {
    s += (i ? ", " : "") + axes[i] + " < " + (i < extents.size() ? ir::to_string(extents[i]) : "?");
  }
  return s;
}

}  // namespace

std::string to_string(const ComputeDef& def) {
  std::string s = def.name + "(";
  for (size_t i = 0; i < def.inputs.size(); ++i) s += (i ? ", " : "") + tensor_signature(def.inputs[i]);
  s += ") -> ";
  if (def.outputs.size() != 1) s += "(";
  for (size_t i = 0; i < def.outputs.size(); ++i) s += (i ? ", " : "") + tensor_signature(def.outputs[i]);
  if (def.outputs.size() != 1) s += ")";
  s += "\n";
  for (const auto& [size, multiple] : def.size_multiples) s += fmt::format("  {} is a multiple of {}\n", size, multiple);
  for (const Stage& stage : def.stages) {
    s += "  " + stage.name + "(" + domain(stage.axes, stage.extents) + ")";
    if (stage.type != Type::f32()) s += ": " + ir::to_string(stage.type);
    if (!stage.store_at.empty()) {
      s += " at (";
      for (size_t i = 0; i < stage.store_at.size(); ++i) s += (i ? ", " : "") + ir::to_string(stage.store_at[i]);
      s += ")";
    }
    s += " = ";
    if (stage.reduce != ReduceKind::None) {
      s += std::string(reduce_kind_name(stage.reduce)) + "[" + domain(stage.reduce_axes, stage.reduce_extents) + "] ";
    }
    s += (stage.body.defined() ? ir::to_string(stage.body) : "<undefined>") + "\n";
    if (stage.epilogue.defined()) s += fmt::format("    then {} -> {}\n", kEpilogueValue, ir::to_string(stage.epilogue));
    if (stage.predicate.defined()) s += fmt::format("    needed where {}\n", ir::to_string(stage.predicate));
  }
  return s;
}

ComputeDef specialize_sizes(const ComputeDef& def, const std::map<std::string, int64_t>& constants) {
  std::map<std::string, Expr> values;
  for (const auto& [name, value] : constants) values[name] = Expr(value);
  const auto fix = [&](const Expr& e) { return e.defined() ? ir::substitute(e, values) : e; };
  const auto fix_all = [&](std::vector<Expr>& list) {
    for (Expr& e : list) e = fix(e);
  };
  ComputeDef out = def;
  for (TensorDecl& t : out.inputs) fix_all(t.shape);
  for (TensorDecl& t : out.outputs) fix_all(t.shape);
  for (Stage& s : out.stages) {
    fix_all(s.extents);
    fix_all(s.reduce_extents);
    fix_all(s.store_at);
    s.body = fix(s.body);
    s.epilogue = fix(s.epilogue);
    s.predicate = fix(s.predicate);
  }
  out.size_params.clear();
  for (const std::string& p : def.size_params) {
    if (!constants.count(p)) out.size_params.push_back(p);
  }
  for (const auto& [name, value] : constants) {
    check_size_multiple(def, name, value);
    out.size_multiples.erase(name);
  }
  return out;
}

void check_size_multiple(const ComputeDef& def, const std::string& size, int64_t value) {
  auto multiple = def.size_multiples.find(size);
  if (multiple != def.size_multiples.end() && value % multiple->second != 0) {
    user_error("operator '{}': size {} = {} is not a multiple of {} (a quantized row holds whole blocks)", def.name,
               size, value, multiple->second);
  }
}

}  // namespace kiln::kernel
