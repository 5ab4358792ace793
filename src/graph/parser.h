// Reads a graph from the text print_graph() writes, so a small graph can be given on the
// command line (`kiln compile --graph`) and a printed graph read back. For example:
//
//   graph(x: f32[n, 576], w: q4_0[1536, 576] weight) {
//     %0 = rms_norm(x, eps=1e-05)
//     %1: f32[n, 1536] = matmul(%0, w)
//     %2 = silu(%1)  # gate
//   } -> (%2)
//
// Parameters are inputs, weights (`weight`) or symbols (`symbol`); constants carry bytes and
// have no text form. A result's type may be left out (it is inferred); when given it must equal
// the inferred one. Attribute values are read as the op's registry declares them. Every node
// goes through GraphBuilder, so the result is verified. Errors are UserErrors naming the line
// and column.
#pragma once

#include <string_view>

#include "graph/graph.h"

namespace kiln::graph {

Graph parse_graph(std::string_view text);

}  // namespace kiln::graph
