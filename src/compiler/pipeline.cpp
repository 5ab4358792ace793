// Reads top to bottom as the pipeline runs: schedule, lower, generate code; each stage printed
// when asked, as in Halide's Lower.cpp.
#include "compiler/pipeline.h"

#include "base/error.h"
#include "codegen/llvm/cpu_codegen.h"
#include "codegen/opencl/opencl_codegen.h"
#include "kernel/ir/printer.h"
#include "runtime/device.h"

namespace kiln::compiler {

Target parse_target(const std::string& name) {
  if (name == "cpu") return host_cpu_target();
  if (name.starts_with("cpu:") && name.size() > 4) {
    const std::string cpu = name.substr(4);
    return cpu_target(codegen::named_cpu_features(cpu), cpu);
  }
  if (name == "opencl") return generic_opencl_target();
  // A device by number: what it reports of itself (local memory, work-group limit).
  if (name.starts_with("opencl:")) return runtime::open_device(name)->target();
  if (name.starts_with("cuda") || name.starts_with("hip")) {
    user_error("target '{}' is not built yet (NVIDIA and AMD back ends are planned); known targets: cpu, cpu:NAME, opencl, opencl:N",
               name);
  }
  user_error("unknown target '{}'; known targets: cpu (the host), cpu:NAME (a CPU LLVM knows, e.g. cpu:znver4), opencl, opencl:N",
             name);
}

CompiledOp compile(const kernel::ComputeDef& def, const CompileOptions& options) {
  auto dump = [&](const std::string& stage, const std::string& kernel, const auto& make_text) {
    if (options.dump.count(stage) && options.on_dump) options.on_dump(stage, kernel, make_text());
  };
  const bool gpu = options.target.is_gpu();
  CompiledOp op;
  op.def = def;
  dump("target", def.name, [&] { return options.target.to_string(); });
  dump("compute", def.name, [&] { return kernel::to_string(def); });

  const kernel::Schedule schedule = kernel::default_schedule(def, options.target);
  dump("schedule", def.name, [&] { return kernel::to_string(schedule); });

  kernel::LowerOptions lower_options = kernel::LowerOptions::for_target(options.target);
  if (options.dump.count("passes") && options.on_dump) {
    lower_options.after_pass = [&](const std::string& pass, const ir::Kernel& k) {
      options.on_dump("loops after " + pass, k.name, ir::to_string(k));
    };
  }
  op.lowered = kernel::lower(schedule, lower_options);
  for (const ir::Kernel& k : op.lowered.kernels) {
    dump("loops", k.name, [&] { return ir::to_string(k); });
    if (gpu) {
      dump("opencl", k.name, [&] { return codegen::emit_opencl(k).source; });
      if (options.compile) op.kernels.push_back(codegen::compile_opencl(k));
    } else {
      codegen::CpuCodegenOptions dump_options;
      dump_options.cpu = options.target.cpu;
      dump("llvm", k.name, [&] { return codegen::emit_llvm_ir(k, dump_options); });
      dump("asm", k.name, [&] { return codegen::emit_host_assembly(k, dump_options); });
      if (options.compile) op.kernels.push_back(codegen::compile_cpu(k));
    }
  }
  return op;
}

}  // namespace kiln::compiler
