#include "passes/fuse.h"

#include <algorithm>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "graph/ops.h"
#include "graph/printer.h"

namespace kiln::passes {
namespace {

using graph::Graph;
using graph::PatternKind;

bool is_elementwise(PatternKind kind) { return kind == PatternKind::Elementwise || kind == PatternKind::Broadcast; }

bool can_anchor(PatternKind kind) {
  return kind == PatternKind::Contraction || kind == PatternKind::Reduction || is_elementwise(kind);
}

PatternKind pattern_of(const Graph& g, size_t node) { return graph::op_info(g.nodes[node].op).pattern; }

}  // namespace

std::vector<KernelGroup> fuse(const Graph& g) {
  // Who reads each value, and which values leave the graph.
  std::map<uint32_t, size_t> readers;
  for (const graph::Node& n : g.nodes) {
    for (graph::ValueId in : n.inputs) ++readers[in.index];
  }
  for (graph::ValueId out : g.outputs) readers[out.index] += 2;  // never folded away
  std::map<uint32_t, size_t> producer;  // value -> node
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (graph::ValueId out : g.nodes[i].outputs) producer[out.index] = i;
  }

  std::vector<KernelGroup> groups;
  std::vector<size_t> group_of(g.nodes.size());
  std::vector<bool> ends_group(g.nodes.size(), true);  // the last member of its group so far
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const graph::Node& n = g.nodes[i];
    std::optional<size_t> join;
    if (is_elementwise(pattern_of(g, i)) && n.outputs.size() == 1) {
      for (graph::ValueId in : n.inputs) {
        auto p = producer.find(in.index);
        if (p == producer.end() || readers[in.index] != 1 || !ends_group[p->second]) continue;
        const KernelGroup& candidate = groups[group_of[p->second]];
        if (!can_anchor(pattern_of(g, candidate.nodes.front()))) continue;
        if (g.nodes[p->second].outputs.size() != 1) continue;
        if (!graph::same_shape(g.type(in).shape, g.type(n.outputs[0]).shape)) continue;
        join = group_of[p->second];
        break;
      }
    }
    if (join) {
      ends_group[groups[*join].nodes.back()] = false;
      groups[*join].nodes.push_back(i);
      group_of[i] = *join;
    } else {
      group_of[i] = groups.size();
      groups.push_back({{i}});
    }
  }
  // Ordered by the node where each group runs: its last.
  std::stable_sort(groups.begin(), groups.end(),
                   [](const KernelGroup& a, const KernelGroup& b) { return a.nodes.back() < b.nodes.back(); });
  return groups;
}

std::string print_groups(const Graph& g, const std::vector<KernelGroup>& groups) {
  std::string out;
  size_t fused = 0;
  for (const KernelGroup& group : groups) {
    if (group.nodes.size() < 2) continue;
    ++fused;
    out += fmt::format("group of {}: {}", group.nodes.size(), graph::node_label(g, group.nodes.front()));
    for (size_t k = 1; k < group.nodes.size(); ++k) out += fmt::format(" -> {}", graph::op_name(g.nodes[group.nodes[k]].op));
    out += "\n";
  }
  out += fmt::format("{} nodes in {} kernel groups ({} of them fused)\n", g.nodes.size(), groups.size(), fused);
  return out;
}

}  // namespace kiln::passes
