// Graph fusion (DESIGN.md section 4): groups a graph's nodes into kernel groups, deciding from
// pattern kinds alone (graph/ops.h), never from op names.
//
// A group is an anchor node and the element-wise nodes folded into its epilogue, in order:
// each member reads the previous member's result, which nothing else reads, so it is never
// stored. An Elementwise or Broadcast node joins the group of the node that produced one of
// its inputs when that value has no other reader, is not a graph output, and has the node's
// own output shape, and the group's anchor is a Contraction, Reduction, Elementwise or
// Broadcast node (views, gathers and opaque nodes end groups). A group runs where its last
// member stands in the graph, when every input of every member is ready.
//
// On a Llama layer: matmul + residual add (twice), rms_norm + weight mul (twice), gate matmul +
// silu + mul by up: 6 fewer kernels per layer.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace kiln::passes {

struct KernelGroup {
  std::vector<size_t> nodes;  // node indices, anchor first; each later one reads the one before
};

// Every node in exactly one group; groups ordered by their last node.
std::vector<KernelGroup> fuse(const graph::Graph& graph);

// One line per group of more than one node, e.g.
//   group of 3: %41 = matmul(%39, blk.0.ffn_gate.weight) -> silu -> mul(.., %42)
// then a count of the groups.
std::string print_groups(const graph::Graph& graph, const std::vector<KernelGroup>& groups);

}  // namespace kiln::passes
