#include "compiler/op_runner.h"

#include <vector>

#include "base/error.h"
#include "compiler/launch_list.h"

namespace kiln::compiler {

OpRunner::OpRunner(runtime::Device& device, const CompiledOp& op) : device_(device), op_(op) {
  runtime::Executable& ex = executable_;
  ex.symbols = op.def.size_params;
  LaunchListBuilder list(ex);
  std::map<std::string, uint32_t> slots;
  std::map<std::string, graph::SymExpr> sizes;
  for (const std::string& name : op.def.size_params) sizes.emplace(name, graph::sym(name));
  for (const kernel::TensorDecl& t : op.def.inputs) {
    slots[t.name] = list.new_slot();
    ex.leaf_names.push_back(t.name);
    ex.leaf_slots.push_back(slots[t.name]);
  }
  for (const kernel::TensorDecl& t : op.def.outputs) {
    slots[t.name] = list.new_slot();
    ex.output_slots.push_back(slots[t.name]);
  }
  list.add_op(op, std::move(slots), sizes);
  ex.load(device);
}

void OpRunner::run(const std::map<std::string, runtime::Buffer*>& tensors, const std::map<std::string, int64_t>& sizes) {
  const auto buffer = [&](const std::string& name) {
    auto it = tensors.find(name);
    if (it == tensors.end()) user_error("operator '{}' needs a buffer for tensor '{}'", op_.def.name, name);
    return it->second;
  };
  std::vector<runtime::Buffer*> leaves, outputs;
  for (const kernel::TensorDecl& t : op_.def.inputs) leaves.push_back(buffer(t.name));
  for (const kernel::TensorDecl& t : op_.def.outputs) outputs.push_back(buffer(t.name));
  std::vector<int64_t> symbols;
  for (const std::string& name : op_.def.size_params) {
    auto it = sizes.find(name);
    if (it == sizes.end()) user_error("operator '{}' needs a value for size '{}'", op_.def.name, name);
    symbols.push_back(it->second);
  }
  // One operator at a time keeps no memory between calls.
  try {
    executable_.run(device_, leaves, symbols, outputs);
  } catch (...) {
    executable_.release_memory();
    throw;
  }
  executable_.release_memory();
}

}  // namespace kiln::compiler
