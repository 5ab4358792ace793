// GraphBuilder: builds a Graph one op at a time, inferring each output's type as it goes.
//
//   GraphBuilder b;
//   ValueId x = b.input("x", DType::f32, {sym("n_tokens"), 576});
//   ValueId w = b.weight("w", DType::q4_0, {1536, 576});
//   b.output(b.silu(b.matmul(x, w)));
//   Graph g = b.finish();
//
// Every method that adds a node checks it against the op registry (ops.h) at once and throws a
// UserError that names the op and its operands when the call is ill-formed.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "graph/graph.h"

namespace kiln::graph {

enum class RopeMode : uint8_t { normal, neox };

struct RopeOptions {
  RopeMode mode = RopeMode::normal;
  int64_t n_dims = 0;  // rotated dimensions per head; 0 means all of head_dim (then a constant)
  double theta = 10000.0;  // freq_base
  double freq_scale = 1.0;
};

struct AttentionOptions {
  double softcap = 0.0;  // 0: none
  bool causal = true;
  int64_t window = 0;  // sliding window in tokens; 0: none
};

class GraphBuilder {
 public:
  // Declares a symbol that shapes and attributes may use, and returns it. Symbols in an
  // input's shape are declared by input() itself.
  SymExpr symbol(const std::string& name);

  // Graph inputs bound on every run (activations, token ids, positions).
  ValueId input(std::string name, DType dtype, Shape shape);
  // A weight, bound by name to the model file's bytes; its dimensions must be constants.
  ValueId weight(std::string name, DType dtype, Shape shape);
  // A tensor stored in the graph: `bytes` holds its elements, row-major, in `dtype`'s layout.
  ValueId constant(std::string name, DType dtype, Shape shape, std::vector<uint8_t> bytes);
  void output(ValueId value);

  // Any op by kind or by registry name; the typed methods below are thin wrappers.
  ValueId op(OpKind op, std::vector<ValueId> inputs, Attributes attrs = {});
  ValueId op(std::string_view op_name, std::vector<ValueId> inputs, Attributes attrs = {});
  // Labels a node's output (shown in messages and printouts); returns `value`.
  ValueId named(ValueId value, std::string name);

  ValueId embedding(ValueId weight, ValueId ids);
  ValueId matmul(ValueId x, ValueId weight);  // x [.., k] times weight [n, k] transposed
  ValueId add(ValueId a, ValueId b) { return op(OpKind::add, {a, b}); }
  ValueId mul(ValueId a, ValueId b) { return op(OpKind::mul, {a, b}); }
  ValueId sub(ValueId a, ValueId b) { return op(OpKind::sub, {a, b}); }
  ValueId div(ValueId a, ValueId b) { return op(OpKind::div, {a, b}); }
  ValueId scale(ValueId x, double scale);
  ValueId silu(ValueId x) { return op(OpKind::silu, {x}); }
  ValueId gelu(ValueId x) { return op(OpKind::gelu, {x}); }
  ValueId gelu_tanh(ValueId x) { return op(OpKind::gelu_tanh, {x}); }
  ValueId exp(ValueId x) { return op(OpKind::exp, {x}); }
  ValueId tanh(ValueId x) { return op(OpKind::tanh, {x}); }
  ValueId neg(ValueId x) { return op(OpKind::neg, {x}); }
  ValueId rsqrt(ValueId x) { return op(OpKind::rsqrt, {x}); }
  ValueId cast(ValueId x, DType dtype);
  ValueId softcap(ValueId x, double cap);
  ValueId rms_norm(ValueId x, double eps);
  ValueId layer_norm(ValueId x, double eps);
  ValueId rope(ValueId x, ValueId positions, const RopeOptions& options,
               std::optional<ValueId> freq_factors = std::nullopt);
  ValueId softmax(ValueId x, double scale = 1.0, std::optional<ValueId> mask = std::nullopt);
  // With `slots` (paged KV): k and v are whole caches, and key position j is row slots[j].
  ValueId attention(ValueId q, ValueId k, ValueId v, double scale, const AttentionOptions& options = {},
                    std::optional<ValueId> slots = std::nullopt);
  // The cache with row slots[i] replaced by new_rows[i]; it is updated in place.
  ValueId kv_write(ValueId cache, ValueId new_rows, ValueId slots);
  ValueId reshape(ValueId x, Shape shape);
  ValueId permute(ValueId x, std::vector<int64_t> perm);
  ValueId slice(ValueId x, int64_t axis, const SymExpr& start, const SymExpr& length);
  ValueId concat(std::vector<ValueId> inputs, int64_t axis);
  ValueId sum(ValueId x) { return op(OpKind::sum, {x}); }
  ValueId max(ValueId x) { return op(OpKind::max, {x}); }
  ValueId mean(ValueId x) { return op(OpKind::mean, {x}); }
  ValueId argmax(ValueId x) { return op(OpKind::argmax, {x}); }

  const TensorType& type(ValueId value) const;  // UserError for a value of another graph
  const Graph& graph() const { return graph_; }

  // Verifies the graph (verify.h) and hands it over; the builder is empty afterwards.
  Graph finish();

 private:
  ValueId add_value(Value value);
  ValueId add_leaf(Value value);
  void check_value(ValueId value, std::string_view where) const;

  Graph graph_;
  std::set<std::string, std::less<>> leaf_names_;
};

}  // namespace kiln::graph
