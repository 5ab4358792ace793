// The graph printer: readable text, one line per node, for `kiln compile --dump graph` and for
// before/after tests of passes.
//
//   graph(x: f32[n_tokens, 576], w: q4_0[1536, 576] weight) {
//     %0: f32[n_tokens, 1536] = matmul(x, w)
//     %1: f32[n_tokens, 1536] = silu(%0)  # ffn_gate
//   } -> (%1)
//
// Parameters come in the order inputs, weights (marked `weight`), constants (`const`), then
// declared symbols that no input's shape binds (`symbol`). Attributes follow the operands in
// name order; a node output's label, if any, follows as a comment. When the parameters do not
// fit on one line of 100 characters, each gets its own line.
#pragma once

#include <string>

#include "graph/graph.h"

namespace kiln::graph {

std::string print_graph(const Graph& graph);

}  // namespace kiln::graph
