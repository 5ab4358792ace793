#include "kernel/lower/gpu_ids.h"

#include "base/error.h"
#include "kernel/ir/equal.h"
#include "kernel/ir/printer.h"
#include "kernel/ir/visitor.h"

namespace kiln::kernel {
namespace {

using ir::Expr;
using ir::ForKind;
using ir::Stmt;

bool is_gpu(ForKind kind) { return kind == ForKind::GpuBlock || kind == ForKind::GpuThread; }

class MapIds : public ir::IRMutator {
 public:
  explicit MapIds(const ir::Kernel& kernel) : kernel_(kernel) {}

 protected:
  using ir::IRMutator::visit;
  Stmt visit(const ir::For* op, const Stmt& s) override {
    if (!is_gpu(op->for_kind)) return ir::IRMutator::visit(op, s);
    const bool block = op->for_kind == ForKind::GpuBlock;
    const std::vector<Expr>& dims = block ? kernel_.grid : kernel_.block;
    const Expr launched = op->gpu_dim < static_cast<int>(dims.size()) ? dims[op->gpu_dim] : Expr(int64_t{1});
    const int64_t* launched_c = ir::as_const_int(launched);
    const int64_t* extent_c = ir::as_const_int(op->extent);
    KILN_CHECK(!(launched_c && extent_c && *launched_c < *extent_c),
               "kernel '{}': {} loop {} has extent {} but the launch gives only {} along dimension {}", kernel_.name,
               ir::for_kind_name(op->for_kind), op->var, *extent_c, launched_c ? *launched_c : 0, op->gpu_dim);
    Stmt body = mutate(op->body);
    // Threads past a loop shorter than the launch skip its body; a whole grid dimension may.
    if (!ir::equal(launched, op->extent)) body = ir::IfThenElse::make(ir::var(op->var) < op->extent, body);
    const Expr id = ir::call(block ? ir::Intrinsic::GpuBlockId : ir::Intrinsic::GpuThreadId,
                             {Expr(int64_t{op->gpu_dim})});
    const int64_t* min = ir::as_const_int(op->min);
    return ir::LetStmt::make(op->var, min && *min == 0 ? id : op->min + id, body);
  }

 private:
  const ir::Kernel& kernel_;
};

}  // namespace

void map_gpu_ids(ir::Kernel& kernel) {
  KILN_CHECK(kernel.grid.size() == 3 && kernel.block.size() <= 3, "kernel '{}': map its launch shape first",
             kernel.name);
  kernel.body = MapIds(kernel).mutate(kernel.body);
}

bool has_gpu_loops(const ir::Kernel& kernel) { return ir::contains_gpu_loops(kernel.body); }

}  // namespace kiln::kernel
