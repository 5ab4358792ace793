#include "graph/verify.h"

#include <set>

#include "base/error.h"
#include "graph/ops.h"

namespace kiln::graph {
namespace {

std::string_view leaf_kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::Input: return "input";
    case ValueKind::Weight: return "weight";
    case ValueKind::Constant: return "constant";
    case ValueKind::NodeOutput: return "node output";
  }
  return "?";
}

class Verifier {
 public:
  explicit Verifier(const Graph& graph) : graph_(graph), defined_(graph.values.size(), false) {}

  void run() {
    check_leaves(graph_.inputs, ValueKind::Input);
    check_leaves(graph_.weights, ValueKind::Weight);
    check_leaves(graph_.constants, ValueKind::Constant);
    for (size_t i = 0; i < graph_.nodes.size(); ++i) check_node(i);
    for (size_t i = 0; i < graph_.values.size(); ++i) {
      if (!defined_[i]) {
        user_error("value {} ({}) is not defined: it is neither listed as a graph input, weight "
                   "or constant nor an output of a node",
                   i, leaf_kind_name(graph_.values[i].kind));
      }
    }
    for (size_t i = 0; i < graph_.outputs.size(); ++i) {
      if (graph_.outputs[i].index >= graph_.values.size()) {
        user_error("graph output {} refers to value {}, which does not exist", i,
                   graph_.outputs[i].index);
      }
    }
  }

 private:
  void check_symbols(const std::set<std::string>& used, std::string_view where,
                     std::string_view what) const {
    for (const std::string& name : used) {
      if (!graph_.symbols.contains(name)) {
        user_error("{}: {} uses the symbol '{}', which the graph does not declare", where, what,
                   name);
      }
    }
  }

  void check_leaves(const std::vector<ValueId>& ids, ValueKind kind) {
    for (const ValueId id : ids) {
      if (id.index >= graph_.values.size()) {
        user_error("graph {} list refers to value {}, which does not exist", leaf_kind_name(kind),
                   id.index);
      }
      const Value& value = graph_.values[id.index];
      const std::string where = fmt::format("{} '{}'", leaf_kind_name(kind), value.name);
      if (value.kind != kind) {
        user_error("{}: value {} is listed as a graph {} but is a {}", where, id.index,
                   leaf_kind_name(kind), leaf_kind_name(value.kind));
      }
      if (defined_[id.index]) user_error("{}: value {} is listed twice", where, id.index);
      if (const std::string problem = leaf_problem(value); !problem.empty()) {
        user_error("{} ({}) {}", where, to_string(value.type), problem);
      }
      if (!names_.insert(value.name).second) {
        user_error("{}: another input, weight or constant has the same name", where);
      }
      check_symbols(symbols(value.type.shape), where, "its shape");
      defined_[id.index] = true;
    }
  }

  void check_node(size_t index) {
    const Node& node = graph_.nodes[index];
    if (static_cast<size_t>(node.op) >= all_ops().size()) {
      user_error("node {}: op kind {} is not in the op registry", index,
                 static_cast<int>(node.op));
    }
    const OpInfo& info = op_info(node.op);
    std::string where = fmt::format("node {} ({})", index, info.name);
    check_outputs(index, where);
    where = node_label(graph_, index);

    std::vector<TensorType> input_types;
    std::vector<std::string> input_labels;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const ValueId id = node.inputs[i];
      if (id.index >= graph_.values.size()) {
        user_error("{}: input {} refers to value {}, which does not exist", where, i, id.index);
      }
      if (!defined_[id.index]) {
        user_error("{}: input {} ({}) is used before it is defined", where, i,
                   value_label(graph_, id));
      }
      input_types.push_back(graph_.values[id.index].type);
      input_labels.push_back(value_label(graph_, id));
    }
    const OpCall call{node.op, input_types, input_labels, node.attrs, where};
    const std::vector<TensorType> inferred = infer_types(call);
    check_symbols(symbols(node.attrs), where, "an attribute");
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const TensorType& stored = graph_.values[node.outputs[i].index].type;
      if (!stored.same_as(inferred[i])) {
        call.fail("output {} is stored as {}, but {} of these inputs gives {}", i,
                  to_string(stored), info.name, to_string(inferred[i]));
      }
      defined_[node.outputs[i].index] = true;
    }
  }

  // The node's outputs exist, are node outputs that name this node as producer, and are
  // defined nowhere else.
  void check_outputs(size_t index, std::string_view where) const {
    const Node& node = graph_.nodes[index];
    const OpInfo& info = op_info(node.op);
    if (static_cast<int>(node.outputs.size()) != info.num_outputs) {
      user_error("{}: has {} outputs, {} has {}", where, node.outputs.size(), info.name,
                 info.num_outputs);
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const ValueId id = node.outputs[i];
      if (id.index >= graph_.values.size()) {
        user_error("{}: output {} refers to value {}, which does not exist", where, i, id.index);
      }
      const Value& value = graph_.values[id.index];
      if (value.kind != ValueKind::NodeOutput || value.producer != static_cast<int32_t>(index)) {
        user_error("{}: output {} is value {}, which is a {} produced by node {}", where, i,
                   id.index, leaf_kind_name(value.kind), value.producer);
      }
      if (defined_[id.index]) user_error("{}: output {} is already defined", where, i);
    }
  }

  const Graph& graph_;
  std::vector<bool> defined_;
  std::set<std::string> names_;
};

}  // namespace

void verify(const Graph& graph) { Verifier(graph).run(); }

}  // namespace kiln::graph
