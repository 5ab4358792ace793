// The loop-nest builder behind build_loop_nest (loop_nest.h), internal to lowering. One class,
// its members defined by concern: the nest's loops, splits, guards and stores (loop_nest.cpp),
// reductions and their accumulators (reductions.cpp), and stages produced inside another's
// loops, region copies among them (staging.cpp).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kernel/ir/visitor.h"
#include "kernel/lower/loop_nest.h"

namespace kiln::kernel::nest {

using ir::Expr;
using ir::ForKind;
using ir::MemoryScope;
using ir::Stmt;
using ir::Type;

// The flat index of `indices` in a row-major array of `extents`.
Expr flat_index(const std::vector<Expr>& indices, const std::vector<Expr>& extents);
// Whether `factor` divides `extent`: both constants, or the extent a size the definition
// declares a multiple of the factor.
bool divides(const Expr& factor, const Expr& extent, const std::map<std::string, int64_t>& multiples);


// Collects the Accesses of `tensor` in an expression: the first, and all of them.
class FindAccess : public ir::IRMutator {
 public:
  explicit FindAccess(std::string tensor) : tensor_(std::move(tensor)) {}
  const ir::Access* found = nullptr;
  std::vector<const ir::Access*> all;

 protected:
  Expr visit(const ir::Access* op, const Expr& e) override {
    if (op->tensor == tensor_) {
      if (found == nullptr) found = op;
      all.push_back(op);
    }
    return ir::IRMutator::visit(op, e);
  }

 private:
  std::string tensor_;
};

class KernelLowering;

// Replaces each Access by loads: inputs through their dtype's load_element, root stages from
// their buffers, compute_at stages from their local storage, inline stages by their bodies.
class LowerAccesses : public ir::IRMutator {
 public:
  explicit LowerAccesses(KernelLowering& k) : k_(k) {}

 protected:
  Expr visit(const ir::Access* op, const Expr& e) override;
  // A definition may read an input's bytes itself (kernel/compute/dequant_expr.h's
  // packed_quads): the input is then a buffer the kernel reads all the same.
  Expr visit(const ir::Load* op, const Expr& e) override;

 private:
  KernelLowering& k_;
};

// The state of one stage's loop nest while it is being lowered.
struct NestContext {
  const Stage* stage = nullptr;
  const StageSchedule* schedule = nullptr;
  std::string prefix;                      // renames this stage's variables ("" at root)
  std::map<std::string, Expr> bound_axes;  // axes fixed by the consumer (compute_at)
  std::vector<LoopDim> loops;
  std::string store_buffer;
  Expr store_index;                        // over the stage's axes (root) or 0 (local)
  const TensorDecl* output = nullptr;      // set when the stage defines an output of the definition
  // The spatial guard, when a copy in shared memory sits inside the reduction: every thread
  // must reach its barriers, so the guard moves onto the updates and the final store.
  Expr deferred_guard;
  std::set<std::string> defined;           // variables (unprefixed) with a value here
};

class KernelLowering {
 public:
  KernelLowering(const Schedule& schedule, const std::map<std::string, LocalStorage>& storage,
                 int64_t shared_memory_bytes)
      : schedule_(schedule), def_(schedule.def()), storage_(storage), shared_memory_bytes_(shared_memory_bytes) {}

  Stmt lower_root(const Stage& stage);
  Expr lower_access(const ir::Access* op);
  // A Load the definition itself makes: an input it reads is a buffer of the kernel.
  void note_load(const ir::Load* op) {
    if (find_tensor_in(def_.inputs, op->buffer) != nullptr) buffers_read.insert(op->buffer);
  }

  std::set<std::string> buffers_read;

 private:
  // A variable of the stage, renamed for the nest it is in.
  Expr named(const NestContext& ctx, const std::string& v) const { return ir::var(ctx.prefix + v); }
  // The loops, lets, guards and stores (loop_nest.cpp).
  static const TensorDecl* find_tensor_in(const std::vector<TensorDecl>& list, const std::string& name);
  void check_remainders_have_loops(const NestContext& ctx) const;
  void check_reduce_loops_innermost(const NestContext& ctx) const;
  void check_guards_uniform_across_lanes(const NestContext& ctx) const;
  std::vector<size_t> tile_loops(const NestContext& ctx, size_t pos) const;
  std::vector<std::pair<std::string, Expr>> definitions(const NestContext& ctx) const;
  std::set<std::string> free_vars_of(const NestContext& ctx, const Expr& e) const;
  static void collect_vars(const Expr& e, std::set<std::string>& out);
  static bool is_stage_variable(const NestContext& ctx, const std::string& v);
  Stmt with_new_definitions(NestContext& ctx, const std::function<Stmt(NestContext&)>& inner);
  Expr guards(const NestContext& ctx, bool reduce) const;
  static Stmt guarded(const Expr& condition, Stmt body);
  Expr stage_value(const NestContext& ctx);
  Expr store_index(const NestContext& ctx);
  Stmt store_result(const NestContext& ctx, Expr value);
  size_t first_reduce_loop(const NestContext& ctx) const;
  const Relation* separate_tail_split(const NestContext& ctx, const std::string& outer) const;
  Stmt lower_nest(NestContext& ctx, size_t pos);
  Stmt lower_loop(NestContext& ctx, size_t pos, const std::function<Stmt(NestContext&)>& rest);

  // Reductions and their accumulators (reductions.cpp).
  Stmt lower_reduction(NestContext& ctx, size_t pos);
  Stmt lower_accumulated_reduction(NestContext& ctx, size_t pos, const std::vector<size_t>& tile);
  size_t rfactor_loop(const NestContext& ctx) const;
  int64_t vector_reduce_lanes(const NestContext& ctx, size_t pos) const;
  Expr lane_accumulator_index(const NestContext& ctx) const;
  Stmt lower_reduce_loops(NestContext& ctx, size_t pos, const std::string& acc, const Expr& index);
  Stmt lower_cross_thread_reduction(NestContext& ctx, size_t pos, const Expr& spatial_guard);

  // Stages produced inside another's loops, region copies (staging.cpp).
  bool has_region_copy_inside(const NestContext& ctx, size_t pos) const;
  bool is_region_copy(const Stage& s) const;
  Stmt with_compute_at_stages(NestContext& ctx, const std::string& var, const std::function<Stmt(NestContext&)>& rest);
  std::map<std::string, int64_t> varying_inside(const NestContext& ctx, const std::string& var) const;
  int64_t plan_region(const NestContext& ctx, const std::string& var, const Stage& producer);
  Stmt copy_region(const NestContext& ctx, const Stage& producer);
  Stmt produce_at(const NestContext& consumer, const Stage& producer);

  struct Region {
    std::vector<Expr> mins;  // the first corner, over the consumer's outer loop variables
    std::vector<int64_t> extents;
  };
  std::map<std::string, Region> regions_;  // region copies, by stage
  const Schedule& schedule_;
  const ComputeDef& def_;
  const std::map<std::string, LocalStorage>& storage_;
  const int64_t shared_memory_bytes_;  // the target's, for one copy (the kernel's total is checked once lowered)
};

}  // namespace kiln::kernel::nest
