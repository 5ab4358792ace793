// `kiln compile` on a whole graph (a model's, or one given as text): the graph, its kernel
// groups after fusion, and every stage of each distinct definition it compiles.
#pragma once

#include <string>
#include <vector>

#include "compiler/pipeline.h"
#include "graph/graph.h"

namespace kiln::cli {

// The stages a graph can be printed at: graph, fused, then the compiler's own.
const std::vector<std::string>& graph_dump_stages();

// Prints `graph` at each of `stages` (checked against graph_dump_stages()), each under a
// "// ---- stage of title ----" line; the compiler's stages once per distinct definition.
// `options` gives the target and the CPU for llvm/asm; nothing is compiled to run. `int8`
// plans quantized matmuls on 8-bit activations where the target allows, as models run.
void print_graph_stages(const graph::Graph& graph, const std::string& title, const std::vector<std::string>& stages,
                        compiler::CompileOptions options, bool int8 = true);

}  // namespace kiln::cli
