#include "kernel/schedule/schedule.h"

#include <algorithm>

#include "base/error.h"
#include "kernel/ir/simplify.h"
#include "kernel/ir/visitor.h"

namespace kiln::kernel {

using ir::Expr;
using ir::ForKind;

Schedule::Schedule(const ComputeDef& def) : def_(def) {
  for (const Stage& stage : def.stages) {
    StageSchedule s;
    s.stage = stage.name;
    for (size_t i = 0; i < stage.axes.size(); ++i) s.loops.push_back({stage.axes[i], stage.extents[i]});
    for (size_t i = 0; i < stage.reduce_axes.size(); ++i) {
      s.loops.push_back({stage.reduce_axes[i], stage.reduce_extents[i], ForKind::Serial, 0, true});
    }
    stages_.push_back(std::move(s));
  }
}

StageRef Schedule::stage(const std::string& name) {
  for (size_t i = 0; i < stages_.size(); ++i) {
    if (stages_[i].stage == name) return StageRef(*this, i);
  }
  KILN_UNREACHABLE("schedule of '{}' has no stage '{}'", def_.name, name);
}

StageRef Schedule::cache_read(const std::string& tensor, const std::string& reader, const std::string& name) {
  const TensorDecl* input = nullptr;
  for (const TensorDecl& t : def_.inputs) {
    if (t.name == tensor) input = &t;
  }
  KILN_CHECK(input != nullptr, "cache_read: '{}' is not an input of '{}'", tensor, def_.name);
  KILN_CHECK(find_stage(def_, name) == nullptr, "cache_read: '{}' already names a stage", name);
  auto at = std::find_if(def_.stages.begin(), def_.stages.end(), [&](const Stage& s) { return s.name == reader; });
  KILN_CHECK(at != def_.stages.end(), "cache_read: '{}' has no stage '{}'", def_.name, reader);
  Stage copy;
  copy.name = name;
  std::vector<Expr> axes;
  for (size_t d = 0; d < input->shape.size(); ++d) {
    copy.axes.push_back("c" + std::to_string(d));
    axes.push_back(ir::var(copy.axes.back()));
  }
  copy.extents = input->shape;
  copy.type = value_type(input->dtype);
  copy.body = ir::Access::make(copy.type, tensor, axes);
  // The reader reads the copy: same indices, another tensor.
  class Redirect : public ir::IRMutator {
   public:
    Redirect(const std::string& from, const std::string& to) : from_(from), to_(to) {}
   protected:
    Expr visit(const ir::Access* op, const Expr& e) override {
      if (op->tensor != from_) return ir::IRMutator::visit(op, e);
      std::vector<Expr> indices;
      for (const Expr& i : op->indices) indices.push_back(mutate(i));
      return ir::Access::make(op->type, to_, indices);
    }
   private:
    const std::string& from_;
    const std::string& to_;
  } redirect(tensor, name);
  at->body = redirect.mutate(at->body);
  if (at->epilogue.defined()) at->epilogue = redirect.mutate(at->epilogue);
  const size_t index = static_cast<size_t>(at - def_.stages.begin());
  StageSchedule schedule;
  schedule.stage = name;
  schedule.copy = true;
  for (size_t d = 0; d < copy.axes.size(); ++d) schedule.loops.push_back({copy.axes[d], copy.extents[d]});
  def_.stages.insert(def_.stages.begin() + static_cast<std::ptrdiff_t>(index), std::move(copy));
  stages_.insert(stages_.begin() + static_cast<std::ptrdiff_t>(index), std::move(schedule));
  return StageRef(*this, index);
}

const StageSchedule& Schedule::of(const std::string& name) const {
  for (const StageSchedule& s : stages_) {
    if (s.stage == name) return s;
  }
  KILN_UNREACHABLE("schedule of '{}' has no stage '{}'", def_.name, name);
}

StageSchedule& StageRef::self() { return schedule_.stages_[index_]; }
const StageSchedule& StageRef::get() const { return schedule_.stages_[index_]; }

LoopDim& StageRef::loop(const std::string& var) {
  for (LoopDim& l : self().loops) {
    if (l.var == var) return l;
  }
  KILN_UNREACHABLE("stage '{}' has no loop '{}'", self().stage, var);
}

StageRef& StageRef::split(const std::string& var, const std::string& outer, const std::string& inner,
                          Expr factor, TailStrategy tail) {
  auto& loops = self().loops;
  auto it = std::find_if(loops.begin(), loops.end(), [&](const LoopDim& l) { return l.var == var; });
  KILN_CHECK(it != loops.end(), "split: stage '{}' has no loop '{}'", self().stage, var);
  KILN_CHECK(it->kind == ForKind::Serial, "split: loop '{}' is already {}", var, ir::for_kind_name(it->kind));
  const LoopDim old = *it;
  // Simplified, so that splitting a constant extent gives a constant (which unroll needs).
  LoopDim outer_dim{outer, ir::simplify((old.extent + factor - 1) / factor), ForKind::Serial, 0, old.is_reduce};
  if (tail == TailStrategy::SeparateLoop) outer_dim.extent = ir::simplify(old.extent / factor);
  const LoopDim inner_dim{inner, factor, ForKind::Serial, 0, old.is_reduce};
  it = loops.erase(it);
  it = loops.insert(it, inner_dim);
  loops.insert(it, outer_dim);
  Relation r{Relation::Kind::Split, var, outer, inner, "", factor, old.extent, tail, old.is_reduce};
  self().relations.push_back(r);
  return *this;
}

StageRef& StageRef::reorder(const std::vector<std::string>& vars) {
  auto& loops = self().loops;
  std::vector<size_t> slots;
  for (const std::string& v : vars) {
    auto it = std::find_if(loops.begin(), loops.end(), [&](const LoopDim& l) { return l.var == v; });
    KILN_CHECK(it != loops.end(), "reorder: stage '{}' has no loop '{}'", self().stage, v);
    slots.push_back(static_cast<size_t>(it - loops.begin()));
  }
  std::vector<LoopDim> picked;
  for (size_t s : slots) picked.push_back(loops[s]);
  std::sort(slots.begin(), slots.end());
  for (size_t i = 0; i < slots.size(); ++i) loops[slots[i]] = picked[i];
  return *this;
}

StageRef& StageRef::fuse(const std::string& outer, const std::string& inner, const std::string& fused) {
  auto& loops = self().loops;
  auto it = std::find_if(loops.begin(), loops.end(), [&](const LoopDim& l) { return l.var == outer; });
  KILN_CHECK(it != loops.end() && it + 1 != loops.end() && (it + 1)->var == inner,
             "fuse: loops '{}' and '{}' of stage '{}' are not adjacent", outer, inner, self().stage);
  KILN_CHECK(it->is_reduce == (it + 1)->is_reduce, "fuse: cannot fuse a reduction loop with a spatial one");
  const Expr inner_extent = (it + 1)->extent;
  const int64_t* a = ir::as_const_int(it->extent);
  const int64_t* b = ir::as_const_int(inner_extent);
  const Expr extent = a && b ? Expr(*a * *b) : it->extent * inner_extent;
  LoopDim f{fused, extent, ForKind::Serial, 0, it->is_reduce};
  it = loops.erase(it, it + 2);
  loops.insert(it, f);
  Relation r{Relation::Kind::Fuse, "", outer, inner, fused, Expr(), inner_extent, TailStrategy::GuardWithIf, f.is_reduce};
  self().relations.push_back(r);
  return *this;
}

StageRef& StageRef::vectorize(const std::string& var) {
  KILN_CHECK(ir::as_const_int(loop(var).extent), "vectorize: loop '{}' needs a constant extent", var);
  loop(var).kind = ForKind::Vectorized;
  return *this;
}

StageRef& StageRef::unroll(const std::string& var) {
  KILN_CHECK(ir::as_const_int(loop(var).extent), "unroll: loop '{}' needs a constant extent", var);
  loop(var).kind = ForKind::Unrolled;
  return *this;
}

StageRef& StageRef::parallel(const std::string& var) {
  loop(var).kind = ForKind::Parallel;
  return *this;
}

StageRef& StageRef::gpu_block(const std::string& var, int dim) {
  loop(var).kind = ForKind::GpuBlock;
  loop(var).gpu_dim = dim;
  return *this;
}

StageRef& StageRef::gpu_thread(const std::string& var, int dim) {
  KILN_CHECK(ir::as_const_int(loop(var).extent), "gpu_thread: loop '{}' needs a constant extent", var);
  loop(var).kind = ForKind::GpuThread;
  loop(var).gpu_dim = dim;
  return *this;
}

StageRef& StageRef::compute_at(const std::string& consumer, const std::string& loop_var) {
  (void)schedule_.of(consumer);
  self().placement = Placement::ComputeAt;
  self().at_stage = consumer;
  self().at_loop = loop_var;
  return *this;
}

StageRef& StageRef::compute_inline() {
  self().placement = Placement::Inline;
  return *this;
}

StageRef& StageRef::rfactor(const std::string& var) {
  KILN_CHECK(loop(var).is_reduce, "rfactor: loop '{}' of stage '{}' is not a reduction loop", var, self().stage);
  self().rfactor = var;
  return *this;
}

StageRef& StageRef::store_in(ir::MemoryScope scope) {
  KILN_CHECK(scope != ir::MemoryScope::Global, "store_in: stage '{}' cannot keep temporaries in global memory",
             self().stage);
  self().storage = scope;
  return *this;
}

std::string to_string(const Schedule& schedule) {
  std::string out;
  for (const StageSchedule& s : schedule.stages()) {
    out += s.stage + ": ";
    switch (s.placement) {
      case Placement::Root: out += "root"; break;
      case Placement::Inline: out += "inline"; break;
      case Placement::ComputeAt: out += "at " + s.at_stage + "." + s.at_loop; break;
    }
    if (s.storage != ir::MemoryScope::Register) out += std::string(" in ") + ir::memory_scope_name(s.storage);
    for (const LoopDim& l : s.loops) {
      out += "  " + l.var;
      if (l.kind != ForKind::Serial) out += std::string(":") + ir::for_kind_name(l.kind);
      if (l.kind == ForKind::GpuBlock || l.kind == ForKind::GpuThread) out += std::to_string(l.gpu_dim);
      if (l.is_reduce) out += l.var == s.rfactor ? "(rfactor)" : "(r)";
    }
    out += "\n";
  }
  return out;
}

}  // namespace kiln::kernel
