#include "graph/printer.h"

#include <set>

#include "graph/ops.h"

namespace kiln::graph {
namespace {

constexpr size_t kMaxHeaderWidth = 100;

std::vector<std::string> parameters(const Graph& graph) {
  std::vector<std::string> params;
  std::set<std::string> bound_by_inputs;
  for (const ValueId id : graph.inputs) {
    params.push_back(value_label(graph, id) + ": " + to_string(graph.type(id)));
    bound_by_inputs.merge(symbols(graph.type(id).shape));
  }
  for (const ValueId id : graph.weights) {
    params.push_back(value_label(graph, id) + ": " + to_string(graph.type(id)) + " weight");
  }
  for (const ValueId id : graph.constants) {
    params.push_back(value_label(graph, id) + ": " + to_string(graph.type(id)) + " const");
  }
  for (const std::string& name : graph.symbols) {
    if (!bound_by_inputs.contains(name)) params.push_back(name + ": symbol");
  }
  return params;
}

std::string header(const Graph& graph) {
  const std::vector<std::string> params = parameters(graph);
  std::string one_line = "graph(";
  for (size_t i = 0; i < params.size(); ++i) one_line += (i > 0 ? ", " : "") + params[i];
  one_line += ") {\n";
  if (one_line.size() <= kMaxHeaderWidth) return one_line;
  std::string lines = "graph(\n";
  for (size_t i = 0; i < params.size(); ++i) {
    lines += "    " + params[i] + (i + 1 < params.size() ? ",\n" : "\n");
  }
  return lines + ") {\n";
}

std::string node_line(const Graph& graph, const Node& node) {
  std::string results;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (i > 0) results += ", ";
    results += value_label(graph, node.outputs[i]) + ": " + to_string(graph.type(node.outputs[i]));
  }
  std::string args;
  for (const ValueId id : node.inputs) args += (args.empty() ? "" : ", ") + value_label(graph, id);
  for (const auto& [name, value] : node.attrs) {
    args += (args.empty() ? "" : ", ") + name + "=" + to_string(value);
  }
  std::string line = "  " + results + " = " + std::string(op_name(node.op)) + "(" + args + ")";
  if (!node.outputs.empty() && !graph.value(node.outputs[0]).name.empty()) {
    line += "  # " + graph.value(node.outputs[0]).name;
  }
  return line + "\n";
}

}  // namespace

std::string print_graph(const Graph& graph) {
  std::string text = header(graph);
  for (const Node& node : graph.nodes) text += node_line(graph, node);
  text += "} -> (";
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    text += (i > 0 ? ", " : "") + value_label(graph, graph.outputs[i]);
  }
  return text + ")\n";
}

}  // namespace kiln::graph
