#include "graph/graph.h"

#include "base/error.h"
#include "graph/ops.h"

namespace kiln::graph {

std::string to_string(const TensorType& type) {
  return std::string(dtype_name(type.dtype)) + to_string(type.shape);
}

const Value& Graph::value(ValueId id) const {
  KILN_CHECK(id.index < values.size(), "value %{} is not in a graph of {} values", id.index,
             values.size());
  return values[id.index];
}

std::string leaf_problem(const Value& value) {
  if (value.name.empty()) return "has no name";
  const bool needs_constant_shape = value.kind != ValueKind::Input;
  for (size_t i = 0; i < value.type.shape.size(); ++i) {
    const std::optional<int64_t> dim = value.type.shape[i].as_constant();
    if (dim && *dim < 0) return fmt::format("has a negative dimension {}", *dim);
    if (!dim && needs_constant_shape) {
      return fmt::format("has the symbolic dimension {}; its dimensions must be constants",
                         value.type.shape[i]);
    }
  }
  const DTypeInfo& info = dtype_info(value.type.dtype);
  if (info.block_size > 1) {
    const SymExpr row = value.type.shape.empty() ? SymExpr(1) : value.type.shape.back();
    if (!(row % static_cast<int64_t>(info.block_size)).same_as(0)) {
      return fmt::format("has rows of {} elements, not a multiple of {}'s block size {}", row,
                         info.name, info.block_size);
    }
  }
  if (value.kind == ValueKind::Constant) {
    const int64_t elements = num_elements(value.type.shape).as_constant().value_or(0);
    const std::optional<uint64_t> bytes =
        dtype_row_bytes(value.type.dtype, static_cast<uint64_t>(elements));
    if (!bytes || *bytes != value.data.size()) {
      return fmt::format("holds {} bytes, its type {} needs {}", value.data.size(),
                         to_string(value.type), bytes ? std::to_string(*bytes) : "?");
    }
  }
  return "";
}

std::string value_label(const Graph& graph, ValueId id) {
  if (id.index >= graph.values.size()) return fmt::format("<bad value {}>", id.index);
  const Value& v = graph.values[id.index];
  if (v.kind != ValueKind::NodeOutput) return v.name;
  const auto producer = static_cast<size_t>(v.producer);
  if (v.producer < 0 || producer >= graph.nodes.size()) {
    return fmt::format("<value {} of no node>", id.index);
  }
  const std::vector<ValueId>& outputs = graph.nodes[producer].outputs;
  if (outputs.size() <= 1) return fmt::format("%{}", producer);
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i] == id) return fmt::format("%{}.{}", producer, i);
  }
  return fmt::format("<value {} of no node>", id.index);
}

std::string node_label(const Graph& graph, size_t node_index) {
  KILN_CHECK(node_index < graph.nodes.size(), "node {} of {}", node_index, graph.nodes.size());
  const Node& node = graph.nodes[node_index];
  std::string name;
  if (!node.outputs.empty() && node.outputs[0].index < graph.values.size()) {
    name = graph.values[node.outputs[0].index].name;
  }
  if (name.empty()) return fmt::format("node {} ({})", node_index, op_name(node.op));
  return fmt::format("node {} ({} '{}')", node_index, op_name(node.op), name);
}

}  // namespace kiln::graph
