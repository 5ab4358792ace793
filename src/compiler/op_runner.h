// Runs a compiled operator on a device: loads its kernels once, then, per call, binds the
// named tensors, allocates the scratch buffers its kernels pass between them, and launches the
// kernels in order.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/pipeline.h"
#include "runtime/device.h"

namespace kiln::compiler {

class OpRunner {
 public:
  OpRunner(runtime::Device& device, const CompiledOp& op);

  // `tensors` maps every input and output name of the definition to a device buffer; `sizes`
  // binds every size parameter. Throws UserError for a missing tensor or size. With
  // `on_kernel`, each kernel's time (launch to finish) is reported by kernel name.
  using KernelTimer = std::function<void(const std::string& kernel, double seconds)>;
  void run(const std::map<std::string, runtime::Buffer*>& tensors, const std::map<std::string, int64_t>& sizes,
           const KernelTimer& on_kernel = {});

 private:
  runtime::Device& device_;
  const CompiledOp& op_;
  std::vector<std::unique_ptr<runtime::LoadedKernel>> loaded_;
};

}  // namespace kiln::compiler
