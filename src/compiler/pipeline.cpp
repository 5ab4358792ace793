// Reads top to bottom as the pipeline runs: schedule, lower, generate code; each stage printed
// when asked, as in Halide's Lower.cpp.
#include "compiler/pipeline.h"

#include "base/error.h"
#include "codegen/llvm/cpu_codegen.h"
#include "codegen/opencl/opencl_codegen.h"
#include "kernel/ir/printer.h"

namespace kiln::compiler {

Target target_from_name(const std::string& name) {
  if (name == "cpu") return Target::Cpu;
  if (name == "opencl" || name.rfind("opencl:", 0) == 0) return Target::OpenCL;
  user_error("unknown target '{}'; known targets: cpu, opencl", name);
}

const char* target_name(Target target) { return target == Target::Cpu ? "cpu" : "opencl"; }

CompiledOp compile(const kernel::ComputeDef& def, const CompileOptions& options) {
  auto dump = [&](const std::string& stage, const std::string& kernel, const auto& make_text) {
    if (options.dump.count(stage) && options.on_dump) options.on_dump(stage, kernel, make_text());
  };
  const bool gpu = options.target == Target::OpenCL;
  CompiledOp op;
  op.def = def;
  dump("compute", def.name, [&] { return kernel::to_string(def); });

  const kernel::Schedule schedule =
      kernel::default_schedule(def, gpu ? kernel::TargetKind::Gpu : kernel::TargetKind::Cpu, options.knobs);
  dump("schedule", def.name, [&] { return kernel::to_string(schedule); });

  op.lowered = kernel::lower(schedule, {.gpu = gpu, .vectorize = !gpu});
  for (const ir::Kernel& k : op.lowered.kernels) {
    dump("loops", k.name, [&] { return ir::to_string(k); });
    if (gpu) {
      dump("opencl", k.name, [&] { return codegen::emit_opencl(k).source; });
      if (options.compile) op.kernels.push_back(codegen::compile_opencl(k));
    } else {
      codegen::CpuCodegenOptions dump_options;
      dump_options.cpu = options.cpu;
      dump("llvm", k.name, [&] { return codegen::emit_llvm_ir(k, dump_options); });
      dump("asm", k.name, [&] { return codegen::emit_host_assembly(k, dump_options); });
      if (options.compile) op.kernels.push_back(codegen::compile_cpu(k));
    }
  }
  return op;
}

}  // namespace kiln::compiler
