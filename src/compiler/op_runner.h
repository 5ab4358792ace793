// Runs one compiled operator on a device, its tensors and sizes given by name: a launch list
// of that operator alone (launch_list.h), loaded once; each call allocates the scratch buffers
// its kernels pass between them and launches the kernels in order. The op matrix runs every
// definition this way.
#pragma once

#include <map>
#include <string>

#include "compiler/pipeline.h"
#include "runtime/device.h"
#include "runtime/executable.h"

namespace kiln::compiler {

class OpRunner {
 public:
  OpRunner(runtime::Device& device, const CompiledOp& op);

  // `tensors` maps every input and output name of the definition to a device buffer; `sizes`
  // binds every size parameter. Throws UserError for a missing tensor or size, or a size that
  // breaks a declared multiple.
  void run(const std::map<std::string, runtime::Buffer*>& tensors, const std::map<std::string, int64_t>& sizes);

 private:
  runtime::Device& device_;
  const CompiledOp& op_;
  runtime::Executable executable_;
};

}  // namespace kiln::compiler
