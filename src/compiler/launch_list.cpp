#include "compiler/launch_list.h"

#include "base/error.h"
#include "compiler/size_program.h"
#include "kernel/ir/printer.h"

namespace kiln::compiler {
namespace {

using graph::SymExpr;

// A loop-IR size (a scratch buffer's elements, over a definition's size parameters) in the
// graph's terms.
SymExpr graph_size(const ir::Expr& e, const std::map<std::string, SymExpr>& sizes) {
  if (const int64_t* c = ir::as_const_int(e)) return SymExpr(*c);
  if (const ir::Var* v = e.as<ir::Var>()) return sizes.at(v->name);
  const ir::Binary* b = e.as<ir::Binary>();
  KILN_CHECK(b != nullptr, "scratch size {} is not integer arithmetic", ir::to_string(e));
  const SymExpr x = graph_size(b->a, sizes), y = graph_size(b->b, sizes);
  switch (b->op) {
    case ir::BinaryOp::Add: return x + y;
    case ir::BinaryOp::Sub: return x - y;
    case ir::BinaryOp::Mul: return x * y;
    case ir::BinaryOp::Div: return x / y;
    case ir::BinaryOp::Mod: return x % y;
    case ir::BinaryOp::Min: return graph::min(x, y);
    case ir::BinaryOp::Max: return graph::max(x, y);
    default: break;
  }
  internal_error_at(__FILE__, __LINE__, "scratch size " + ir::to_string(e) + " is not integer arithmetic");
}

}  // namespace

uint32_t LaunchListBuilder::size(const SymExpr& e) {
  auto [it, added] = size_index_.try_emplace(e.to_string(), static_cast<uint32_t>(ex_.sizes.size()));
  if (added) ex_.sizes.push_back(size_program(e, ex_.symbols));
  return it->second;
}

void LaunchListBuilder::add_op(const CompiledOp& op, std::map<std::string, uint32_t> slots,
                               const std::map<std::string, SymExpr>& sizes) {
  using Kind = runtime::ExecStep::Kind;
  for (const auto& [name, multiple] : op.def.size_multiples) {
    const uint32_t s = size(sizes.at(name));
    if (checked_.insert({s, multiple}).second) {
      ex_.checks.push_back({s, multiple, fmt::format("operator '{}': size {}", op.def.name, name)});
    }
  }
  std::vector<uint32_t> scratch;
  for (const kernel::ScratchBuffer& b : op.lowered.scratch) {
    const uint32_t slot = new_slot();
    const SymExpr elements = graph_size(b.elements, sizes);
    ex_.steps.push_back({.kind = Kind::Allocate, .slot = slot,
                         .size = size(graph::max(elements, 1) * int64_t{b.element_type.bytes()})});
    slots[b.name] = slot;
    scratch.push_back(slot);
  }
  auto [first, added] = first_kernel_.try_emplace(&op, static_cast<uint32_t>(ex_.kernels.size()));
  if (added) ex_.kernels.insert(ex_.kernels.end(), op.kernels.begin(), op.kernels.end());
  for (size_t k = 0; k < op.kernels.size(); ++k) {
    runtime::ExecStep launch{.kind = Kind::Launch, .kernel = first->second + static_cast<uint32_t>(k)};
    const codegen::KernelSignature& sig = op.kernels[k].signature;
    for (const std::string& name : sig.buffers) {
      auto it = slots.find(name);
      KILN_CHECK(it != slots.end(), "kernel '{}' reads '{}', which no value binds", sig.name, name);
      launch.buffers.push_back(it->second);
    }
    for (const std::string& name : sig.size_params) launch.sizes.push_back(size(sizes.at(name)));
    ex_.steps.push_back(std::move(launch));
  }
  for (auto it = scratch.rbegin(); it != scratch.rend(); ++it) ex_.steps.push_back({.kind = Kind::Release, .slot = *it});
}

}  // namespace kiln::compiler
