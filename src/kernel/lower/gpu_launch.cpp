#include "kernel/lower/gpu_launch.h"

#include "base/error.h"
#include "kernel/ir/visitor.h"

namespace kiln::kernel {
namespace {

using ir::Expr;
using ir::ForKind;
using ir::MemoryScope;
using ir::Stmt;

// The shared memory a work-group of the kernel holds: every shared allocation counted, as if
// all were live at once (OpenCL declares them all at kernel scope).
int64_t shared_bytes(const Stmt& s) {
  class Sum : public ir::IRMutator {
   public:
    int64_t bytes = 0;
   protected:
    Stmt visit(const ir::Allocate* op, const Stmt& s) override {
      if (op->scope == MemoryScope::Shared) {
        const int64_t* size = ir::as_const_int(op->size);
        KILN_CHECK(size != nullptr, "shared allocation {} needs a constant size", op->name);
        bytes += *size * op->element_type.bytes();
      }
      return ir::IRMutator::visit(op, s);
    }
  } sum;
  sum.mutate(s);
  return sum.bytes;
}

void find_launch_shape(const Stmt& s, ir::Kernel& kernel) {
  class Scan : public ir::IRMutator {
   public:
    explicit Scan(ir::Kernel& k) : k_(k) {}
   protected:
    Stmt visit(const ir::For* op, const Stmt& s) override {
      if (op->for_kind == ForKind::GpuBlock || op->for_kind == ForKind::GpuThread) {
        auto& dims = op->for_kind == ForKind::GpuBlock ? k_.grid : k_.block;
        if (!dims[op->gpu_dim].defined() || ir::as_const_int(dims[op->gpu_dim])) dims[op->gpu_dim] = op->extent;
        if (op->for_kind == ForKind::GpuThread) {
          const int64_t* now = ir::as_const_int(dims[op->gpu_dim]);
          const int64_t* seen = ir::as_const_int(op->extent);
          KILN_CHECK(now && seen && *now == *seen, "kernel '{}': GPU thread loops of dimension {} differ in extent",
                     k_.name, op->gpu_dim);
        }
      }
      return ir::IRMutator::visit(op, s);
    }
   private:
    ir::Kernel& k_;
  };
  kernel.grid.assign(3, Expr());
  kernel.block.assign(3, Expr());
  Scan(kernel).mutate(s);
  for (int d = 0; d < 3; ++d) {
    if (!kernel.grid[d].defined()) kernel.grid[d] = Expr(int64_t{1});
    if (!kernel.block[d].defined()) kernel.block[d] = Expr(int64_t{1});
  }
}

}  // namespace

void map_gpu_launch(ir::Kernel& kernel, int64_t shared_memory_bytes) {
  find_launch_shape(kernel.body, kernel);
  const int64_t shared = shared_bytes(kernel.body);
  KILN_CHECK(shared <= shared_memory_bytes, "kernel '{}' needs {} bytes of shared memory; the target has {}",
             kernel.name, shared, shared_memory_bytes);
}

}  // namespace kiln::kernel
