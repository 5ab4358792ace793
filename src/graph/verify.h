// The graph verifier: refuses an ill-formed Graph with a UserError that names the node (or
// value) and what is wrong. Run it after every pass in tests and debug builds.
#pragma once

#include "graph/graph.h"

namespace kiln::graph {

// Checks that
//  - every input, weight and constant is well formed (graph.h, leaf_problem) and uniquely named;
//  - nodes are in topological order: each reads only values defined before it;
//  - each node matches its op's row in the registry (operand count, dtypes, attributes) and its
//    stored output types are what the op's shape rule gives for its inputs;
//  - every symbol in a shape or attribute is declared in Graph::symbols;
//  - every value is defined: listed as an input, weight or constant, or the output of a node
//    (a pass that drops nodes drops their values too), and the graph's outputs exist.
void verify(const Graph& graph);

}  // namespace kiln::graph
