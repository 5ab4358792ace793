// Writing a runtime::Executable's launch list: the compiled operators' launches with their
// buffers in slots and their sizes as the runtime evaluates them. GraphProgram writes a whole
// graph with it, OpRunner a single operator.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>

#include "compiler/pipeline.h"
#include "graph/sym.h"
#include "runtime/executable.h"

namespace kiln::compiler {

class LaunchListBuilder {
 public:
  // `executable.symbols` must be set: sizes are written over them.
  explicit LaunchListBuilder(runtime::Executable& executable) : ex_(executable) {}

  // The index of a size in the executable's table (each distinct size is evaluated once a run).
  uint32_t size(const graph::SymExpr& e);
  // A slot of its own, for a buffer only the list itself uses.
  uint32_t new_slot() { return ex_.slot_count++; }

  // The launches of `op`: `slots` holds every input and output tensor of its definition by
  // name, `sizes` every size parameter as an expression of the symbols. Its scratch buffers are
  // allocated before its kernels and released after them; its declared size multiples are
  // checked once a run.
  void add_op(const CompiledOp& op, std::map<std::string, uint32_t> slots,
              const std::map<std::string, graph::SymExpr>& sizes);

 private:
  runtime::Executable& ex_;
  std::map<std::string, uint32_t> size_index_;  // by printed expression
  std::map<const CompiledOp*, uint32_t> first_kernel_;
  std::set<std::pair<uint32_t, int64_t>> checked_;
};

}  // namespace kiln::compiler
