// Schedules: how the stages of a compute definition become loops (DESIGN.md section 5).
//
// A schedule starts with every stage at root, one serial loop per axis (reduction axes
// innermost), and is changed by primitives: split, reorder, fuse, vectorize, unroll, parallel,
// bind to the GPU grid, compute_at another stage's loop, compute_inline, rfactor (partial
// results per point of a reduce loop), store_in (registers, private or shared memory), and
// cache_read (a stage that copies part of an input, in shared memory). The
// primitives only record decisions; src/kernel/lower turns a ComputeDef plus its Schedule into
// loop IR.
#pragma once

#include <string>
#include <vector>

#include "kernel/compute/compute_def.h"
#include "kernel/ir/stmt.h"

namespace kiln::kernel {

// What to do with the last, partial tile of a split whose factor may not divide the extent.
enum class TailStrategy {
  GuardWithIf,   // one loop over ceil(extent / factor) tiles, the body guarded by `var < extent`
  SeparateLoop,  // full tiles first, then a serial loop over the remainder (for vectorized tiles)
};

struct LoopDim {
  std::string var;
  ir::Expr extent;
  ir::ForKind kind = ir::ForKind::Serial;
  int gpu_dim = 0;
  bool is_reduce = false;
};

// How loop variables relate to the variables they replaced.
struct Relation {
  enum class Kind { Split, Fuse } kind;
  // Split: old = outer * factor + inner. Fuse: outer = fused / inner_extent, inner = fused % inner_extent.
  std::string old_var, outer, inner, fused;
  ir::Expr factor;        // Split
  ir::Expr old_extent;    // Split: the extent of old_var; Fuse: the extent of inner
  TailStrategy tail = TailStrategy::GuardWithIf;
  bool is_reduce = false;
};

enum class Placement { Root, Inline, ComputeAt };

struct StageSchedule {
  std::string stage;
  std::vector<LoopDim> loops;  // outermost first
  std::vector<Relation> relations;
  Placement placement = Placement::Root;
  std::string at_stage, at_loop;  // ComputeAt: inside this loop of that stage
  std::string rfactor;            // the reduce loop whose points keep partial results, or ""
  bool copy = false;              // made by cache_read: holds the region of an input its reader reads
  ir::MemoryScope storage = ir::MemoryScope::Register;  // of a compute_at stage and of partials
};

class Schedule;

// The primitives, applied to one stage. Each checks its arguments (an unknown loop, a split of
// a vectorized loop, ...) and throws InternalError: schedules are written by kiln's own rules.
class StageRef {
 public:
  StageRef(Schedule& schedule, size_t index) : schedule_(schedule), index_(index) {}
  StageRef& split(const std::string& var, const std::string& outer, const std::string& inner,
                  ir::Expr factor, TailStrategy tail = TailStrategy::GuardWithIf);
  StageRef& reorder(const std::vector<std::string>& vars);  // these loops, in this order, in their slots
  StageRef& fuse(const std::string& outer, const std::string& inner, const std::string& fused);
  StageRef& vectorize(const std::string& var);
  StageRef& unroll(const std::string& var);
  StageRef& parallel(const std::string& var);
  StageRef& gpu_block(const std::string& var, int dim = 0);
  StageRef& gpu_thread(const std::string& var, int dim = 0);
  StageRef& compute_at(const std::string& consumer, const std::string& loop);
  StageRef& compute_inline();
  // The reduction keeps one partial result per point of reduce loop `var` and of the reduce
  // loops inside it, combined once the reduction loops end (Halide's and TVM's rfactor, kept
  // inside the stage rather than as a new one). A vectorized `var` gives one accumulator per
  // lane; `var` bound to GPU threads gives one per thread, combined by a tree of halving steps
  // in the partials' memory.
  StageRef& rfactor(const std::string& var);
  // Where a stage computed at another's loop keeps its values, and where rfactor partials live:
  // registers, private (local) memory, or memory shared by a work-group (TVM's set_scope,
  // Halide's store_in). A root stage is always a global buffer.
  StageRef& store_in(ir::MemoryScope scope);
  const StageSchedule& get() const;

 private:
  StageSchedule& self();
  LoopDim& loop(const std::string& var);
  Schedule& schedule_;
  size_t index_;
};

class Schedule {
 public:
  explicit Schedule(const ComputeDef& def);
  StageRef stage(const std::string& name);
  // A copy of input `tensor` for stage `reader`: a new stage `name`(axes of the input) =
  // tensor(axes), which `reader` then reads instead (TVM's cache_read). Computed at one of
  // the reader's loops and stored in shared memory, it holds the part of the input the
  // reader's loops inside that loop and its GPU threads touch: the work-group loads that part
  // once, together, and each thread reads it from there. Returns the new stage. It goes in
  // before its reader: StageRefs taken earlier may point at another stage afterwards.
  StageRef cache_read(const std::string& tensor, const std::string& reader, const std::string& name);
  const StageSchedule& of(const std::string& name) const;
  const std::vector<StageSchedule>& stages() const { return stages_; }
  const ComputeDef& def() const { return def_; }

 private:
  friend class StageRef;
  ComputeDef def_;
  std::vector<StageSchedule> stages_;
};

// Lists each stage's placement and loops, e.g. "out: root  jo:parallel i ji ko ki:vectorized".
std::string to_string(const Schedule& schedule);

}  // namespace kiln::kernel
