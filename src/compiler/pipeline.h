// The compiler driver: a compute definition in, compiled kernels out, with every stage
// printable on request (`kiln compile --dump ...`).
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "codegen/artifact.h"
#include "kernel/compute/compute_def.h"
#include "kernel/lower/lower.h"
#include "kernel/schedule/rules.h"

namespace kiln::compiler {

enum class Target { Cpu, OpenCL };

// "cpu" or "opencl" (a device name such as "opencl:1" names the OpenCL target too).
Target target_from_name(const std::string& name);
const char* target_name(Target target);

// The printable stages, in pipeline order.
inline const std::vector<std::string>& dump_stage_names() {
  static const std::vector<std::string> names = {"compute", "schedule", "loops", "llvm", "asm", "opencl"};
  return names;
}

struct CompileOptions {
  Target target = Target::Cpu;
  kernel::ScheduleKnobs knobs;
  std::set<std::string> dump;  // stage names from dump_stage_names()
  // Receives (stage, kernel name, text) for every requested dump.
  std::function<void(const std::string&, const std::string&, const std::string&)> on_dump;
  bool compile = true;  // false: stop after the requested dumps (no JIT, no OpenCL build)
  // CPU target for the llvm/asm dumps, e.g. "znver5"; empty: the host. Compiled code is always
  // for the host.
  std::string cpu;
};

// A compiled operator: its kernels in launch order, and the scratch buffers they pass.
struct CompiledOp {
  kernel::ComputeDef def;
  kernel::LoweredOp lowered;
  std::vector<codegen::CompiledKernel> kernels;
};

CompiledOp compile(const kernel::ComputeDef& def, const CompileOptions& options);

}  // namespace kiln::compiler
