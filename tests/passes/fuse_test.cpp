// Graph fusion: which nodes become one kernel, decided from pattern kinds alone.
#include "passes/fuse.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "graph/builder.h"
#include "graph/ops.h"

namespace kiln::passes {
namespace {

using graph::GraphBuilder;
using graph::SymExpr;
using graph::ValueId;

const SymExpr n = graph::sym("n_tokens");

// The rule fusion promises, checked as a property rather than as a count: an element-wise or
// broadcast node whose input is produced by another node's group, read by nothing else, not a
// graph output and of the node's own shape, joins that group (if the group's anchor can take
// an epilogue: a contraction, reduction or element-wise node). Every node is in one group.
void expect_fused_wherever_the_rule_allows(const graph::Graph& g, const std::vector<KernelGroup>& groups) {
  std::vector<int> group_of(g.nodes.size(), -1);
  for (size_t k = 0; k < groups.size(); ++k) {
    for (size_t node : groups[k].nodes) {
      EXPECT_EQ(group_of[node], -1) << "node " << node << " in two groups";
      group_of[node] = static_cast<int>(k);
    }
  }
  for (int k : group_of) EXPECT_NE(k, -1) << "a node in no group";
  std::map<uint32_t, int> readers;
  for (const graph::Node& node : g.nodes) {
    for (ValueId v : node.inputs) ++readers[v.index];
  }
  std::set<uint32_t> outputs;
  for (ValueId v : g.outputs) outputs.insert(v.index);
  const auto can_anchor = [](graph::PatternKind p) {
    return p == graph::PatternKind::Contraction || p == graph::PatternKind::Reduction || p == graph::PatternKind::Elementwise ||
           p == graph::PatternKind::Broadcast;
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const graph::Node& node = g.nodes[i];
    const graph::PatternKind kind = graph::op_info(node.op).pattern;
    if (kind != graph::PatternKind::Elementwise && kind != graph::PatternKind::Broadcast) continue;
    bool could_join = false;
    for (ValueId v : node.inputs) {
      const graph::Value& value = g.value(v);
      if (value.kind != graph::ValueKind::NodeOutput || readers[v.index] != 1 || outputs.count(v.index)) continue;
      if (!(value.type.shape == g.type(node.outputs[0]).shape)) continue;
      const size_t anchor = groups[static_cast<size_t>(group_of[static_cast<size_t>(value.producer)])].nodes.front();
      could_join = could_join || can_anchor(graph::op_info(g.nodes[anchor].op).pattern);
    }
    if (could_join) {
      EXPECT_GT(groups[static_cast<size_t>(group_of[i])].nodes.size(), 1u)
          << "node " << i << " (" << graph::op_info(node.op).name << ") could join its producer's group but runs alone";
    }
  }
}

// One Llama-style layer: norm * weight, projections, residual adds, a SwiGLU feed-forward.
graph::Graph llama_layer() {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {n, 64});
  const ValueId norm_w = b.weight("norm", DType::f32, {64});
  const ValueId wo = b.weight("wo", DType::q4_1, {64, 64});
  const ValueId wg = b.weight("wg", DType::q4_1, {128, 64});
  const ValueId wu = b.weight("wu", DType::q4_1, {128, 64});
  const ValueId wd = b.weight("wd", DType::q4_1, {64, 128});
  const ValueId h = b.mul(b.rms_norm(x, 1e-5), norm_w);             // rms_norm -> mul
  const ValueId x1 = b.add(x, b.matmul(b.scale(h, 2.0), wo));        // -> scale; matmul -> add
  const ValueId h2 = b.mul(b.rms_norm(x1, 1e-5), norm_w);           // rms_norm -> mul
  const ValueId up = b.matmul(h2, wu);
  const ValueId gated = b.mul(b.silu(b.matmul(h2, wg)), up);        // matmul -> silu -> mul
  b.output(b.add(x1, b.matmul(gated, wd)));                          // matmul -> add
  return b.finish();
}

TEST(Fuse, FoldsElementwiseConsumersIntoTheirProducers) {
  const graph::Graph g = llama_layer();
  const std::vector<KernelGroup> groups = fuse(g);
  // 13 nodes: 2 rms_norm, 4 matmul and 7 element-wise ones. Each of those 7 has a single-use
  // input of its own shape, so all 7 fold: 6 groups (2 norms and 4 matmuls), 5 of them with an
  // epilogue (the up matmul's result is read by the gate group's mul, which joins the gate).
  expect_fused_wherever_the_rule_allows(g, groups);
  EXPECT_EQ(print_groups(g, groups),
            "group of 3: node 0 (rms_norm) -> mul -> scale\n"
            "group of 2: node 3 (matmul) -> add\n"
            "group of 2: node 5 (rms_norm) -> mul\n"
            "group of 3: node 8 (matmul) -> silu -> mul\n"
            "group of 2: node 11 (matmul) -> add\n"
            "13 nodes in 6 kernel groups (5 of them fused)\n");
  // Every node in exactly one group, and a group runs at its last node, after all its inputs.
  std::vector<int> seen(g.nodes.size(), 0);
  size_t last = 0;
  for (const KernelGroup& group : groups) {
    for (size_t node : group.nodes) ++seen[node];
    EXPECT_GE(group.nodes.back(), last);
    last = group.nodes.back();
  }
  for (int count : seen) EXPECT_EQ(count, 1);
}

TEST(Fuse, KeepsValuesThatAreReadTwiceOrLeaveTheGraph) {
  GraphBuilder b;
  const ValueId x = b.input("x", DType::f32, {n, 8});
  const ValueId w = b.weight("w", DType::f32, {8, 8});
  const ValueId y = b.matmul(x, w);
  b.output(b.add(b.silu(y), y));  // y read twice: silu cannot take it over
  const ValueId z = b.matmul(x, w);
  b.output(z);
  b.output(b.exp(z));  // z is an output: it must be stored
  const graph::Graph g = b.finish();
  expect_fused_wherever_the_rule_allows(g, fuse(g));
  EXPECT_EQ(print_groups(g, fuse(g)),
            "group of 2: node 1 (silu) -> add\n"
            "5 nodes in 4 kernel groups (1 of them fused)\n");
}

TEST(Fuse, StopsAtViewsAndOpaqueNodes) {
  GraphBuilder b;
  const ValueId q = b.input("q", DType::f32, {n, 2, 4});
  const ValueId k = b.input("k", DType::f32, {n, 2, 4});
  const ValueId a = b.attention(q, k, k, 0.5);
  b.output(b.silu(b.reshape(b.silu(a), {n, 8})));  // attention is opaque; reshape is a view
  const graph::Graph g = b.finish();
  expect_fused_wherever_the_rule_allows(g, fuse(g));
  EXPECT_EQ(print_groups(g, fuse(g)), "4 nodes in 4 kernel groups (0 of them fused)\n");
}

}  // namespace
}  // namespace kiln::passes
