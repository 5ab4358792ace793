#include "compiler/op_runner.h"

#include <chrono>

#include "base/error.h"
#include "kernel/ir/evaluate.h"

namespace kiln::compiler {

OpRunner::OpRunner(runtime::Device& device, const CompiledOp& op) : device_(device), op_(op) {
  for (const codegen::CompiledKernel& k : op.kernels) loaded_.push_back(device.load(k));
}

void OpRunner::run(const std::map<std::string, runtime::Buffer*>& tensors, const std::map<std::string, int64_t>& sizes,
                   const KernelTimer& on_kernel) {
  std::vector<int64_t> size_values;
  for (const std::string& name : op_.def.size_params) {
    auto it = sizes.find(name);
    if (it == sizes.end()) user_error("operator '{}' needs a value for size '{}'", op_.def.name, name);
    size_values.push_back(it->second);
  }
  for (const auto& [name, multiple] : op_.def.size_multiples) kernel::check_size_multiple(op_.def, name, sizes.at(name));
  std::map<std::string, runtime::Buffer> scratch;
  for (const kernel::ScratchBuffer& s : op_.lowered.scratch) {
    const int64_t elements = ir::evaluate_int(s.elements, sizes);
    scratch[s.name] = device_.allocate(static_cast<size_t>(std::max<int64_t>(elements, 1)) * s.element_type.bytes());
  }
  try {
    for (size_t i = 0; i < loaded_.size(); ++i) {
      std::vector<runtime::Buffer*> buffers;
      for (const std::string& name : op_.kernels[i].signature.buffers) {
        if (auto s = scratch.find(name); s != scratch.end()) {
          buffers.push_back(&s->second);
        } else if (auto t = tensors.find(name); t != tensors.end()) {
          buffers.push_back(t->second);
        } else {
          user_error("operator '{}' needs a buffer for tensor '{}'", op_.def.name, name);
        }
      }
      const auto start = std::chrono::steady_clock::now();
      device_.launch(*loaded_[i], buffers, size_values);
      if (on_kernel) {
        on_kernel(op_.kernels[i].signature.name,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
    }
  } catch (...) {
    for (auto& [name, buffer] : scratch) device_.release(buffer);
    throw;
  }
  for (auto& [name, buffer] : scratch) device_.release(buffer);
}

}  // namespace kiln::compiler
