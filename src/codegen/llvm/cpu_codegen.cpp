// Host target selection, the optimization pipeline, the on-disk object cache and the public
// entry points. The IR itself is built by cpu_emitter.cpp; loading is cpu_jit.cpp.
#include "codegen/llvm/cpu_codegen.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <sstream>
#include <vector>

#include <llvm/ADT/StringMap.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Support/xxhash.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include "base/error.h"
#include "codegen/llvm/cpu_emitter.h"
#include "codegen/llvm/cpu_jit.h"
#include "codegen/signature.h"

namespace kiln::codegen {

namespace {

// Part of every cache key: bump it when what this file does to a module changes (passes,
// target options), since the key hashes the module before optimization.
constexpr const char* kCacheFormat = "kiln-cpu-object-1";

struct Target {
  std::string triple;
  std::string cpu;
  std::string features;  // "+avx2,-avx512f,..."
};

// The host's features in LLVM's form, sorted so the string (and cache keys) are stable.
std::string host_features() {
  std::vector<std::string> features;
  for (const auto& feature : llvm::sys::getHostCPUFeatures()) {
    features.push_back((feature.second ? "+" : "-") + feature.first().str());
  }
  std::sort(features.begin(), features.end());
  std::string joined;
  for (const std::string& feature : features) joined += (joined.empty() ? "" : ",") + feature;
  return joined;
}

Target choose_target(const CpuCodegenOptions& options) {
  Target target;
  target.triple = llvm::sys::getProcessTriple();
  if (options.cpu.empty()) {
    target.cpu = llvm::sys::getHostCPUName().str();
    target.features = host_features();
    // Extra features (e.g. "-avx512f" to try AVX2 code on an AVX-512 host) override the host's.
    if (!options.features.empty()) target.features += "," + options.features;
  } else {
    target.cpu = options.cpu;
    target.features = options.features;
  }
  return target;
}

llvm::CodeGenOptLevel codegen_level(int opt_level) {
  switch (opt_level) {
    case 0: return llvm::CodeGenOptLevel::None;
    case 1: return llvm::CodeGenOptLevel::Less;
    case 2: return llvm::CodeGenOptLevel::Default;
    default: return llvm::CodeGenOptLevel::Aggressive;
  }
}

const llvm::Target& llvm_target_for(const llvm::Triple& triple) {
  initialize_native_target();
  std::string error;
  const llvm::Target* llvm_target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!llvm_target) internal_error_at(__FILE__, __LINE__, "no LLVM target for " + triple.str() + ": " + error);
  return *llvm_target;
}

// An unknown CPU name would make LLVM abort the process later; refuse it here.
void check_cpu_name(const llvm::Target& llvm_target, const llvm::Triple& triple, const std::string& cpu) {
  const std::unique_ptr<llvm::MCSubtargetInfo> subtarget(llvm_target.createMCSubtargetInfo(triple, "", ""));
  if (subtarget && !subtarget->isCPUStringValid(cpu)) {
    user_error("LLVM does not know the CPU '{}' (examples: znver5, znver4, skylake-avx512, x86-64-v3)", cpu);
  }
}

std::unique_ptr<llvm::TargetMachine> make_target_machine(const Target& target, int opt_level) {
  const llvm::Triple triple(target.triple);
  const llvm::Target* llvm_target = &llvm_target_for(triple);
  check_cpu_name(*llvm_target, triple, target.cpu);
  // Position-independent, small code model: what the JIT linker relocates.
  std::unique_ptr<llvm::TargetMachine> machine(llvm_target->createTargetMachine(
      triple, target.cpu, target.features, llvm::TargetOptions(), llvm::Reloc::PIC_, llvm::CodeModel::Small,
      codegen_level(opt_level)));
  if (!machine) internal_error_at(__FILE__, __LINE__, "cannot create a target machine for " + target.cpu);
  return machine;
}

// A kernel as an LLVM module, not yet optimized, with the machine it is meant for.
struct Lowered {
  Target target;
  std::unique_ptr<llvm::TargetMachine> machine;
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
};

Lowered lower(const ir::Kernel& kernel, const CpuCodegenOptions& options) {
  Lowered lowered;
  lowered.target = choose_target(options);
  lowered.machine = make_target_machine(lowered.target, options.opt_level);
  lowered.context = std::make_unique<llvm::LLVMContext>();
  lowered.module = std::make_unique<llvm::Module>(kernel.name, *lowered.context);
  lowered.module->setTargetTriple(lowered.machine->getTargetTriple());
  lowered.module->setDataLayout(lowered.machine->createDataLayout());

  std::vector<std::pair<std::string, std::string>> attributes = {
      {"target-cpu", lowered.target.cpu},
      {"target-features", lowered.target.features},
  };
  // Use zmm registers where there are any: LLVM otherwise keeps to 256 bits on some CPUs.
  if (lowered.machine->getMCSubtargetInfo()->checkFeatures("+avx512f")) {
    attributes.emplace_back("prefer-vector-width", "512");
  }
  emit_cpu_kernel(*lowered.module, kernel, std::move(attributes), options.fast_math,
                  lowered.machine->getMCSubtargetInfo());

  std::string errors;
  llvm::raw_string_ostream error_stream(errors);
  if (llvm::verifyModule(*lowered.module, &error_stream)) {
    internal_error_at(__FILE__, __LINE__, "the LLVM IR of kernel " + kernel.name + " is invalid: " + errors);
  }
  return lowered;
}

void optimize(Lowered& lowered, int opt_level) {
  llvm::LoopAnalysisManager loop_analyses;
  llvm::FunctionAnalysisManager function_analyses;
  llvm::CGSCCAnalysisManager cgscc_analyses;
  llvm::ModuleAnalysisManager module_analyses;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = opt_level >= 2;
  tuning.SLPVectorization = opt_level >= 2;
  llvm::PassBuilder passes(lowered.machine.get(), tuning);
  passes.registerModuleAnalyses(module_analyses);
  passes.registerCGSCCAnalyses(cgscc_analyses);
  passes.registerFunctionAnalyses(function_analyses);
  passes.registerLoopAnalyses(loop_analyses);
  passes.crossRegisterProxies(loop_analyses, function_analyses, cgscc_analyses, module_analyses);

  llvm::OptimizationLevel level = llvm::OptimizationLevel::O3;
  if (opt_level == 1) level = llvm::OptimizationLevel::O1;
  if (opt_level == 2) level = llvm::OptimizationLevel::O2;
  llvm::ModulePassManager pipeline = opt_level <= 0
                                         ? passes.buildO0DefaultPipeline(llvm::OptimizationLevel::O0)
                                         : passes.buildPerModuleDefaultPipeline(level);
  pipeline.run(*lowered.module, module_analyses);
}

std::string machine_code(Lowered& lowered, llvm::CodeGenFileType type) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream stream(buffer);
  llvm::legacy::PassManager passes;
  if (lowered.machine->addPassesToEmitFile(passes, stream, nullptr, type)) {
    internal_error_at(__FILE__, __LINE__, "LLVM cannot emit code for " + lowered.target.cpu);
  }
  passes.run(*lowered.module);
  return std::string(buffer.data(), buffer.size());
}

std::string module_text(const llvm::Module& module) {
  std::string text;
  llvm::raw_string_ostream stream(text);
  module.print(stream, nullptr);
  return text;
}

// --- the object cache: <dir>/<128-bit hash>.o (codegen/kernel_cache.h) ------------------------

std::string cache_key(const Lowered& lowered, const CpuCodegenOptions& options) {
  std::string input = module_text(*lowered.module);
  input += fmt::format("\n{}\n{}\n{}\n{}\nO{} fast_math={}\nLLVM {}\n", kCacheFormat, lowered.target.triple,
                       lowered.target.cpu, lowered.target.features, options.opt_level, options.fast_math,
                       LLVM_VERSION_STRING);
  const llvm::XXH128_hash_t hash = llvm::xxh3_128bits(llvm::arrayRefFromStringRef(input));
  return fmt::format("{:016x}{:016x}", hash.high64, hash.low64);
}

std::atomic<int64_t> llvm_compiles{0};
std::atomic<int64_t> cache_loads{0};
std::atomic<int64_t> cache_rejects{0};

}  // namespace

CpuCompileStats cpu_compile_stats() {
  return {llvm_compiles.load(), cache_loads.load(), cache_rejects.load()};
}

CompiledKernel compile_cpu(const ir::Kernel& kernel, const CpuCodegenOptions& options) {
  if (!options.cpu.empty()) {
    user_error("kernel {}: code for CPU '{}' cannot run on this host; leave the CPU unset to compile for the host "
               "({})", kernel.name, options.cpu, llvm::sys::getHostCPUName().str());
  }
  CompiledKernel compiled;
  compiled.signature = signature_of(kernel);

  Lowered lowered = lower(kernel, options);
  const std::string cache_dir = kernel_cache_dir();
  // The key is a 128-bit hash of everything the object depends on; it is the entry's identity.
  const std::string key = cache_dir.empty() ? std::string() : cache_key(lowered, options);
  const std::string file_name = key + ".o";
  if (!cache_dir.empty()) {
    const CacheEntry cached = read_cache_entry(cache_dir, file_name, key);
    if (cached.status == CacheLookup::Hit) {
      try {
        compiled.code = load_host_object(cached.payload, cpu_entry_symbol(kernel.name));
        ++cache_loads;
        return compiled;
      } catch (const InternalError&) {
        // Whole but unlinkable (written by a kiln that emitted something else): compile afresh.
        ++cache_rejects;
      }
    } else if (cached.status == CacheLookup::Damaged) {
      ++cache_rejects;
    }
  }
  optimize(lowered, options.opt_level);
  const std::string object = machine_code(lowered, llvm::CodeGenFileType::ObjectFile);
  ++llvm_compiles;
  if (!cache_dir.empty()) write_cache_entry(cache_dir, file_name, key, object);
  compiled.code = load_host_object(object, cpu_entry_symbol(kernel.name));
  return compiled;
}

std::string emit_llvm_ir(const ir::Kernel& kernel, const CpuCodegenOptions& options) {
  Lowered lowered = lower(kernel, options);
  optimize(lowered, options.opt_level);
  return module_text(*lowered.module);
}

std::string emit_host_assembly(const ir::Kernel& kernel, const CpuCodegenOptions& options) {
  Lowered lowered = lower(kernel, options);
  optimize(lowered, options.opt_level);
  return machine_code(lowered, llvm::CodeGenFileType::AssemblyFile);
}

std::string host_cpu_description() {
  std::string enabled;
  std::stringstream features(host_features());
  for (std::string feature; std::getline(features, feature, ',');) {
    if (feature.starts_with("+")) enabled += (enabled.empty() ? "" : ",") + feature;
  }
  return llvm::sys::getHostCPUName().str() + " (" + enabled + ")";
}

CpuFeatures named_cpu_features(const std::string& cpu) {
  const llvm::Triple triple(llvm::sys::getProcessTriple());
  const llvm::Target& llvm_target = llvm_target_for(triple);
  check_cpu_name(llvm_target, triple, cpu);
  const std::unique_ptr<llvm::MCSubtargetInfo> subtarget(llvm_target.createMCSubtargetInfo(triple, cpu, ""));
  if (!subtarget) internal_error_at(__FILE__, __LINE__, "no subtarget information for " + cpu);
  const auto has = [&](const char* feature) { return subtarget->checkFeatures(std::string("+") + feature); };
  CpuFeatures f;
  if (triple.isX86()) {
    f.avx2 = has("avx2");
    f.avx512f = has("avx512f");
    f.avx512_vnni = has("avx512vnni");
    f.avx_vnni = has("avxvnni");
    f.avx512_bf16 = has("avx512bf16");
  } else if (triple.isAArch64()) {
    f.neon = has("neon");
  }
  return f;
}

}  // namespace kiln::codegen
