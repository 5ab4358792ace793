#include "graph/builder.h"

#include "base/error.h"
#include "graph/ops.h"
#include "graph/verify.h"

namespace kiln::graph {

SymExpr GraphBuilder::symbol(const std::string& name) {
  SymExpr s = sym(name);
  graph_.symbols.insert(name);
  return s;
}

ValueId GraphBuilder::add_value(Value value) {
  KILN_CHECK(graph_.values.size() < UINT32_MAX, "too many values");
  graph_.values.push_back(std::move(value));
  return ValueId{static_cast<uint32_t>(graph_.values.size() - 1)};
}

ValueId GraphBuilder::add_leaf(Value value) {
  const char* what = value.kind == ValueKind::Input    ? "input"
                     : value.kind == ValueKind::Weight ? "weight"
                                                       : "constant";
  if (leaf_names_.contains(value.name)) {
    user_error("{} '{}': the graph already has an input, weight or constant of that name", what,
               value.name);
  }
  if (const std::string problem = leaf_problem(value); !problem.empty()) {
    user_error("{} '{}' ({}) {}", what, value.name, to_string(value.type), problem);
  }
  leaf_names_.insert(value.name);
  const ValueKind kind = value.kind;
  const ValueId id = add_value(std::move(value));
  switch (kind) {
    case ValueKind::Input: graph_.inputs.push_back(id); break;
    case ValueKind::Weight: graph_.weights.push_back(id); break;
    case ValueKind::Constant: graph_.constants.push_back(id); break;
    case ValueKind::NodeOutput: KILN_UNREACHABLE("add_leaf of a node output");
  }
  return id;
}

ValueId GraphBuilder::input(std::string name, DType dtype, Shape shape) {
  // An input's size binds the symbols in its shape at run time, so they are declared here.
  graph_.symbols.merge(symbols(shape));
  return add_leaf(Value{TensorType{dtype, std::move(shape)}, std::move(name), ValueKind::Input});
}

ValueId GraphBuilder::weight(std::string name, DType dtype, Shape shape) {
  return add_leaf(Value{TensorType{dtype, std::move(shape)}, std::move(name), ValueKind::Weight});
}

ValueId GraphBuilder::constant(std::string name, DType dtype, Shape shape,
                               std::vector<uint8_t> bytes) {
  return add_leaf(Value{TensorType{dtype, std::move(shape)}, std::move(name), ValueKind::Constant,
                        -1, std::move(bytes)});
}

void GraphBuilder::output(ValueId value) {
  check_value(value, "output");
  graph_.outputs.push_back(value);
}

void GraphBuilder::check_value(ValueId value, std::string_view where) const {
  if (value.index >= graph_.values.size()) {
    user_error("{}: value {} is not a value of this graph (it has {})", where, value.index,
               graph_.values.size());
  }
}

ValueId GraphBuilder::op(OpKind kind, std::vector<ValueId> inputs, Attributes attrs) {
  const size_t node_index = graph_.nodes.size();
  const std::string where = fmt::format("node {} ({})", node_index, op_name(kind));
  std::vector<TensorType> input_types;
  std::vector<std::string> input_labels;
  for (size_t i = 0; i < inputs.size(); ++i) {
    check_value(inputs[i], fmt::format("{}: input {}", where, i));
    input_types.push_back(graph_.type(inputs[i]));
    input_labels.push_back(value_label(graph_, inputs[i]));
  }
  const OpCall call{kind, input_types, input_labels, attrs, where};
  std::vector<TensorType> output_types = infer_types(call);
  for (const std::string& name : symbols(attrs)) {
    if (!graph_.symbols.contains(name)) {
      call.fail("the attributes use the symbol '{}', which the graph does not declare (declare "
                "it with GraphBuilder::symbol, or use it in an input's shape)",
                name);
    }
  }
  Node node{kind, std::move(inputs), std::move(attrs), {}};
  for (TensorType& type : output_types) {
    const auto producer = static_cast<int32_t>(node_index);
    node.outputs.push_back(add_value(Value{std::move(type), "", ValueKind::NodeOutput, producer}));
  }
  graph_.nodes.push_back(std::move(node));
  return graph_.nodes.back().outputs[0];
}

ValueId GraphBuilder::op(std::string_view op_name, std::vector<ValueId> inputs,
                         Attributes attrs) {
  const std::optional<OpKind> kind = op_from_name(op_name);
  if (!kind) user_error("node {}: there is no op named '{}'", graph_.nodes.size(), op_name);
  return op(*kind, std::move(inputs), std::move(attrs));
}

ValueId GraphBuilder::named(ValueId value, std::string name) {
  check_value(value, "named");
  Value& v = graph_.values[value.index];
  if (v.kind != ValueKind::NodeOutput) {
    user_error("named('{}'): value '{}' is a graph input, weight or constant, which keeps its "
               "own name",
               name, v.name);
  }
  v.name = std::move(name);
  return value;
}

const TensorType& GraphBuilder::type(ValueId value) const {
  check_value(value, "type");
  return graph_.type(value);
}

ValueId GraphBuilder::embedding(ValueId weight, ValueId ids) {
  return op(OpKind::embedding, {weight, ids});
}

ValueId GraphBuilder::matmul(ValueId x, ValueId weight) { return op(OpKind::matmul, {x, weight}); }

ValueId GraphBuilder::scale(ValueId x, double scale) {
  return op(OpKind::scale, {x}, {{"scale", scale}});
}

ValueId GraphBuilder::cast(ValueId x, DType dtype) {
  return op(OpKind::cast, {x}, {{"dtype", dtype}});
}

ValueId GraphBuilder::softcap(ValueId x, double cap) {
  return op(OpKind::softcap, {x}, {{"cap", cap}});
}

ValueId GraphBuilder::rms_norm(ValueId x, double eps) {
  return op(OpKind::rms_norm, {x}, {{"eps", eps}});
}

ValueId GraphBuilder::layer_norm(ValueId x, double eps) {
  return op(OpKind::layer_norm, {x}, {{"eps", eps}});
}

ValueId GraphBuilder::rope(ValueId x, ValueId positions, const RopeOptions& options,
                           std::optional<ValueId> freq_factors) {
  int64_t n_dims = options.n_dims;
  if (n_dims == 0) {
    check_value(x, "rope");
    const Shape& shape = graph_.type(x).shape;
    const std::optional<int64_t> head_dim =
        shape.empty() ? std::nullopt : shape.back().as_constant();
    if (!head_dim) {
      user_error("node {} (rope): n_dims = 0 means all of head_dim, but x is {}; pass n_dims",
                 graph_.nodes.size(), to_string(graph_.type(x)));
    }
    n_dims = *head_dim;
  }
  std::vector<ValueId> inputs = {x, positions};
  if (freq_factors) inputs.push_back(*freq_factors);
  const std::string mode = options.mode == RopeMode::neox ? "neox" : "normal";
  return op(OpKind::rope, std::move(inputs),
            {{"mode", mode},
             {"n_dims", n_dims},
             {"theta", options.theta},
             {"freq_scale", options.freq_scale}});
}

ValueId GraphBuilder::softmax(ValueId x, double scale, std::optional<ValueId> mask) {
  std::vector<ValueId> inputs = {x};
  if (mask) inputs.push_back(*mask);
  return op(OpKind::softmax, std::move(inputs), {{"scale", scale}});
}

ValueId GraphBuilder::attention(ValueId q, ValueId k, ValueId v, double scale,
                                const AttentionOptions& options, std::optional<ValueId> slots) {
  std::vector<ValueId> inputs = {q, k, v};
  if (slots) inputs.push_back(*slots);
  return op(OpKind::attention, std::move(inputs),
            {{"scale", scale},
             {"softcap", options.softcap},
             {"causal", options.causal},
             {"window", options.window}});
}

ValueId GraphBuilder::kv_write(ValueId cache, ValueId new_rows, ValueId slots) {
  return op(OpKind::kv_write, {cache, new_rows, slots});
}

ValueId GraphBuilder::reshape(ValueId x, Shape shape) {
  return op(OpKind::reshape, {x}, {{"shape", std::move(shape)}});
}

ValueId GraphBuilder::permute(ValueId x, std::vector<int64_t> perm) {
  return op(OpKind::permute, {x}, {{"perm", std::move(perm)}});
}

ValueId GraphBuilder::slice(ValueId x, int64_t axis, const SymExpr& start,
                            const SymExpr& length) {
  return op(OpKind::slice, {x}, {{"axis", axis}, {"start", start}, {"length", length}});
}

ValueId GraphBuilder::concat(std::vector<ValueId> inputs, int64_t axis) {
  return op(OpKind::concat, std::move(inputs), {{"axis", axis}});
}

Graph GraphBuilder::finish() {
  verify(graph_);
  Graph graph = std::move(graph_);
  graph_ = Graph{};
  leaf_names_.clear();
  return graph;
}

}  // namespace kiln::graph
