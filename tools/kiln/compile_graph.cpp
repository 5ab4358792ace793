#include "compile_graph.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/error.h"
#include "compiler/graph_program.h"
#include "graph/printer.h"
#include "passes/fuse.h"

namespace kiln::cli {

const std::vector<std::string>& graph_dump_stages() {
  static const std::vector<std::string> stages = [] {
    std::vector<std::string> s = {"graph", "fused"};
    for (const std::string& stage : compiler::dump_stage_names()) s.push_back(stage);
    return s;
  }();
  return stages;
}

void print_graph_stages(const graph::Graph& graph, const std::string& title, const std::vector<std::string>& stages,
                        compiler::CompileOptions options, bool int8) {
  const auto& known = graph_dump_stages();
  for (const std::string& stage : stages) {
    if (std::find(known.begin(), known.end(), stage) == known.end()) {
      user_error("unknown --dump stage '{}'; stages of a graph: {}", stage, fmt::join(known, ", "));
    }
    if ((stage == "llvm" || stage == "asm") && options.target.kind != TargetKind::Cpu) {
      user_error("--dump {} needs --target cpu", stage);
    }
    if (stage == "opencl" && options.target.kind != TargetKind::OpenCL) user_error("--dump opencl needs --target opencl");
  }
  const auto wanted = [&](const char* stage) { return std::find(stages.begin(), stages.end(), stage) != stages.end(); };
  if (wanted("graph")) fmt::print("// ---- graph of {} ----\n{}", title, graph::print_graph(graph));
  if (wanted("fused")) fmt::print("// ---- fused of {} ----\n{}", title, passes::print_groups(graph, passes::fuse(graph)));
  options.dump.clear();
  for (const std::string& stage : stages) {
    if (stage != "graph" && stage != "fused") options.dump.insert(stage);
  }
  if (options.dump.empty()) return;
  // What the program compiles: each distinct definition, fused and with the graph's constant
  // sizes fixed (planned here, not compiled).
  const compiler::GraphProgram program(graph, options.target, {},
                                       compiler::ProgramOptions{.compile = false, .int8_activations = int8});
  options.compile = false;
  options.on_dump = [](const std::string& stage, const std::string& kernel, const std::string& text) {
    fmt::print("// ---- {} of {} ----\n{}{}", stage, kernel, text, text.empty() || text.back() == '\n' ? "" : "\n");
  };
  for (const kernel::ComputeDef& def : program.compute_defs()) compiler::compile(def, options);
}

}  // namespace kiln::cli
