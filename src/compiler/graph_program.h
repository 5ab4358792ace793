// A graph compiled for a target: every kernel group (passes/fuse.h: a node, or a node with the
// element-wise nodes fused into its epilogue) becomes a compiled operator or, for views that
// need no copy (reshape, a slice of whole rows), an alias of a buffer; kv_write updates its
// cache in place, and its result is the cache's buffer. One program serves every binding of
// the graph's symbols (n_tokens, n_past, ...).
//
// Each kernel's result gets its own buffer, released after the last step that reads it (no
// arena or buffer reuse plan yet). What runs is the runtime's Executable (runtime/executable.h):
// the program builds it once, as a flat launch list, and run() hands it the bindings.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/pipeline.h"
#include "graph/graph.h"
#include "runtime/device.h"
#include "runtime/executable.h"

namespace kiln::compiler {

struct ProgramOptions {
  bool fuse = true;     // element-wise nodes folded into their producers' kernels (passes/fuse.h)
  bool compile = true;  // false: plan only, for compute_defs(); such a program cannot run
  // Quantized matmuls quantize their activations to 8 bits and contract with integer dot
  // products (kernel/compute/ops.h, matmul_int8_activations) where the target has them and
  // the weight's format packs; false keeps every matmul in f32.
  bool int8_activations = true;
  // With int8_activations: the weights that only such matmuls read get their rows
  // interleaved by the target's i32 lanes (base/row_interleave.h); whoever binds the weights
  // stores them so (GraphProgram::weight_row_interleave). False keeps every weight plain.
  bool interleave_weight_rows = true;
};

class GraphProgram {
 public:
  // Compiles every kernel group; `on_progress(done, total)` is called as nodes compile.
  GraphProgram(const graph::Graph& graph, const Target& target,
               const std::function<void(size_t, size_t)>& on_progress = {}, const ProgramOptions& options = {});
  ~GraphProgram();

  const graph::Graph& graph() const { return graph_; }
  size_t kernel_count() const;
  // Every distinct compute definition the program runs (fused and shape-specialized).
  std::vector<kernel::ComputeDef> compute_defs() const;

  // Runs the graph. `leaves` binds every input and weight by name; `outputs` gives a buffer for
  // each graph output, in order, large enough for its shape at these symbol values.
  void run(runtime::Device& device, const std::map<std::string, runtime::Buffer*>& leaves,
           const std::map<std::string, int64_t>& symbols, const std::vector<runtime::Buffer*>& outputs);

  // Time spent in each kernel (launch to finish), totalled over the runs since profiling was
  // switched on; most time first.
  struct OpTime {
    std::string name;  // the kernel's name: its definition's, or with the root stage's for
                       // one of several kernels (e.g. "attention_causal_paged_score")
    int64_t launches = 0;
    double seconds = 0;
  };
  void set_profiling(bool on) { executable_->set_profiling(on); }
  void reset_profile() { executable_->reset_profile(); }
  std::vector<OpTime> profile() const;

  // The weights whose rows the kernels read interleaved, by name: their bytes must be bound in
  // that layout (interleave_rows of the file's). A weight not listed is read as stored.
  const std::map<std::string, int64_t>& weight_row_interleave() const { return weight_row_interleave_; }

  // The launch list the runtime walks (built when the program compiles).
  runtime::Executable& executable() { return *executable_; }

  struct Step;
  struct NodePlan;

 private:
  void add_compute_step(NodePlan plan, graph::ValueId output, const Target& target);
  void plan_lifetimes();
  void build_executable();
  graph::Graph graph_;
  std::vector<std::unique_ptr<Step>> steps_;  // one per node
  std::map<std::string, std::unique_ptr<CompiledOp>> compiled_;  // by printed definition
  bool compile_ = true;
  std::map<std::string, int64_t> weight_row_interleave_;
  std::unique_ptr<runtime::Executable> executable_ = std::make_unique<runtime::Executable>();
};

}  // namespace kiln::compiler
