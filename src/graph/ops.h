// The op registry: one row per op with its name, pattern kind, operands and the dtypes each
// accepts, attributes, and the rule that infers its output types.
//
// Fusion decides from pattern kinds alone, never from op names (DESIGN.md section 3).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/dtype.h"
#include "graph/graph.h"

namespace kiln::graph {

enum class PatternKind : uint8_t {
  Elementwise,  // out[i] = f(in[i]), same shape
  Broadcast,    // elementwise over operands broadcast to a common shape
  Injective,    // each output element is a fixed function of a few input elements: views, gathers
  Reduction,    // reduces along an axis (norms, softmax, sum)
  Contraction,  // multiply-accumulate over a shared axis (matmul)
  Opaque,       // none of the above; fusion treats it as a wall (attention)
};

std::string_view pattern_kind_name(PatternKind kind);  // "elementwise", ...

// A set of dtypes, one bit per ggml type id (all ids are below 64).
class DTypeSet {
 public:
  constexpr DTypeSet() = default;
  constexpr DTypeSet(std::initializer_list<DType> dtypes) {
    for (DType d : dtypes) bits_ |= bit(d);
  }
  static constexpr DTypeSet any() { return DTypeSet(~uint64_t{0}); }

  constexpr bool contains(DType d) const { return (bits_ & bit(d)) != 0; }
  constexpr bool is_any() const { return bits_ == ~uint64_t{0}; }
  std::string to_string() const;  // "f32, f16, bf16" or "any dtype"

 private:
  constexpr explicit DTypeSet(uint64_t bits) : bits_(bits) {}
  static constexpr uint64_t bit(DType d) { return uint64_t{1} << static_cast<uint32_t>(d); }
  uint64_t bits_ = 0;
};

struct OperandSpec {
  std::string_view name;  // "x", "weight", "positions"
  DTypeSet dtypes;
};

struct AttrSpec {
  std::string_view name;
  AttrType type;
};

// What a shape rule sees: the operand types, the attributes, and how to name the call in a
// message. Its helpers throw UserErrors that start with `where` and end with the operands.
struct OpCall {
  OpKind op;
  std::span<const TensorType> inputs;
  std::span<const std::string> input_labels;  // "x", "%3"
  const Attributes& attrs;
  std::string where;  // "node 3 (matmul 'ffn_up')"

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    fail_message(fmt::format(format, std::forward<Args>(args)...));
  }
  [[noreturn]] void fail_message(const std::string& message) const;

  int64_t get_int(std::string_view name) const { return attrs.get_int(name, where); }
  double get_double(std::string_view name) const { return attrs.get_double(name, where); }
  bool get_bool(std::string_view name) const { return attrs.get_bool(name, where); }
  const std::string& get_string(std::string_view name) const {
    return attrs.get_string(name, where);
  }
  const std::vector<int64_t>& get_ints(std::string_view name) const {
    return attrs.get_ints(name, where);
  }
  SymExpr get_sym(std::string_view name) const { return attrs.get_sym(name, where); }
  const Shape& get_shape(std::string_view name) const { return attrs.get_shape(name, where); }
  DType get_dtype(std::string_view name) const { return attrs.get_dtype(name, where); }
};

// The shape and dtype rule of an op: the output types, or a UserError through OpCall::fail.
// It may assume the operand count, operand dtypes and attribute types match the op's row.
using ShapeRule = std::vector<TensorType> (*)(const OpCall& call);

struct OpInfo {
  OpKind kind;
  std::string_view name;
  PatternKind pattern;
  // One spec per operand; when max_inputs is kVariadic the last spec covers every extra one.
  std::vector<OperandSpec> operands;
  int min_inputs;
  int max_inputs;
  int num_outputs;
  std::vector<AttrSpec> attrs;  // all required; no other attribute is allowed
  ShapeRule infer;
};

inline constexpr int kVariadic = -1;

const OpInfo& op_info(OpKind op);
std::string_view op_name(OpKind op);
std::optional<OpKind> op_from_name(std::string_view name);
std::span<const OpInfo> all_ops();

// Checks a call against the op's row (operand count, each operand's dtype, attributes present
// with the right types, no unknown ones), then runs its shape rule.
std::vector<TensorType> infer_types(const OpCall& call);

}  // namespace kiln::graph
