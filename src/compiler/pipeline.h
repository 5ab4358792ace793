// The compiler driver: a compute definition in, compiled kernels out, with every stage
// printable on request (`kiln compile --dump ...`).
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "base/target.h"
#include "codegen/artifact.h"
#include "kernel/compute/compute_def.h"
#include "kernel/lower/lower.h"
#include "kernel/schedule/rules.h"

namespace kiln::compiler {

// A target description from its name: "cpu" (the host), "cpu:NAME" (a CPU LLVM knows, e.g.
// "cpu:znver4", "cpu:haswell"), "opencl" (what every OpenCL device promises), "opencl:N" (what
// that device reports, runtime::Device::target). Anything else is a UserError that lists what
// is known.
Target parse_target(const std::string& name);

// The printable stages, in pipeline order. "passes" is the loop IR after each lowering pass
// (kernel::lowering_pass_names()); "loops" is the loop IR lowering ends with.
inline const std::vector<std::string>& dump_stage_names() {
  static const std::vector<std::string> names = {"target", "compute", "schedule", "passes", "loops", "llvm", "asm", "opencl"};
  return names;
}

struct CompileOptions {
  Target target = host_cpu_target();
  std::set<std::string> dump;  // stage names from dump_stage_names()
  // Receives (stage, kernel name, text) for every requested dump.
  std::function<void(const std::string&, const std::string&, const std::string&)> on_dump;
  // false: stop after the requested dumps (no JIT, no OpenCL build). Compiled CPU code is always
  // for the host; a named CPU (target.cpu) shapes the schedule and the llvm/asm dumps.
  bool compile = true;
};

// A compiled operator: its kernels in launch order, and the scratch buffers they pass.
struct CompiledOp {
  kernel::ComputeDef def;
  kernel::LoweredOp lowered;
  std::vector<codegen::CompiledKernel> kernels;
};

CompiledOp compile(const kernel::ComputeDef& def, const CompileOptions& options);

}  // namespace kiln::compiler
