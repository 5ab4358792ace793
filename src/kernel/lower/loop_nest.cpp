// The nest's loops: one per schedule loop, lets that give back each replaced variable where
// its parts are known, guards for splits that may not divide, remainder loops, and the store of
// each point's value (through the stage's epilogue and its output's encoding).
#include "kernel/lower/nest_builder.h"

#include <algorithm>
#include <set>

#include "base/error.h"
#include "kernel/compute/dequant_expr.h"

namespace kiln::kernel {
namespace nest {

Expr flat_index(const std::vector<Expr>& indices, const std::vector<Expr>& extents) {
  KILN_CHECK(indices.size() == extents.size(), "{} indices for {} dimensions", indices.size(), extents.size());
  if (indices.empty()) return Expr(int64_t{0});
  Expr flat = indices[0];
  for (size_t d = 1; d < indices.size(); ++d) flat = flat * extents[d] + indices[d];
  return flat;
}

bool divides(const Expr& factor, const Expr& extent, const std::map<std::string, int64_t>& multiples) {
  const int64_t* f = ir::as_const_int(factor);
  if (f == nullptr || *f <= 0) return false;
  if (const int64_t* e = ir::as_const_int(extent)) return *e % *f == 0;
  const ir::Var* v = extent.as<ir::Var>();
  auto it = v ? multiples.find(v->name) : multiples.end();
  return it != multiples.end() && it->second % *f == 0;
}

Expr LowerAccesses::visit(const ir::Access* op, const Expr&) { return k_.lower_access(op); }

Expr LowerAccesses::visit(const ir::Load* op, const Expr& e) {
  k_.note_load(op);
  return ir::IRMutator::visit(op, e);
}

Stmt KernelLowering::lower_root(const Stage& stage) {
  NestContext ctx;
  ctx.stage = &stage;
  ctx.schedule = &schedule_.of(stage.name);
  ctx.loops = ctx.schedule->loops;
  ctx.store_buffer = stage.name;
  for (const TensorDecl& t : def_.outputs) {
    if (t.name == stage.name) ctx.output = &t;
  }
  if (stage.store_at.empty()) {
    std::vector<Expr> axes;
    for (const std::string& a : stage.axes) axes.push_back(ir::var(a));
    ctx.store_index = flat_index(axes, stage.extents);
  } else {
    // A scatter: the element goes to out(store_at...), indices that may read inputs.
    KILN_CHECK(ctx.output != nullptr && stage.reduce == ReduceKind::None,
               "'{}': only an elementwise output stage can store at other indices", stage.name);
    ctx.store_index = flat_index(stage.store_at, ctx.output->shape);
  }
  check_remainders_have_loops(ctx);
  check_reduce_loops_innermost(ctx);
  check_guards_uniform_across_lanes(ctx);
  return lower_nest(ctx, 0);
}

Expr KernelLowering::lower_access(const ir::Access* op) {
  std::vector<Expr> indices;
  for (const Expr& i : op->indices) indices.push_back(LowerAccesses(*this).mutate(i));
  if (const TensorDecl* input = find_tensor_in(def_.inputs, op->tensor)) {
    buffers_read.insert(input->name);
    return load_element(*input, indices);
  }
  const Stage* stage = find_stage(def_, op->tensor);
  KILN_CHECK(stage != nullptr, "'{}' reads '{}', which is neither an input nor a stage", def_.name, op->tensor);
  const StageSchedule& s = schedule_.of(stage->name);
  switch (s.placement) {
    case Placement::Inline: {
      KILN_CHECK(stage->reduce == ReduceKind::None, "reduction stage '{}' cannot be inlined", stage->name);
      std::map<std::string, Expr> axes;
      for (size_t d = 0; d < stage->axes.size(); ++d) axes[stage->axes[d]] = indices[d];
      return LowerAccesses(*this).mutate(ir::substitute(stage->body, axes));
    }
    case Placement::ComputeAt: {
      auto region = regions_.find(stage->name);
      if (region == regions_.end()) return ir::Load::make(stage->type, storage_.at(stage->name).name, Expr(int64_t{0}));
      // A copy of a region: the element's offset from the region's first corner.
      Expr offset = Expr(int64_t{0});
      for (size_t d = 0; d < indices.size(); ++d) {
        offset = offset * Expr(region->second.extents[d]) + (indices[d] - region->second.mins[d]);
      }
      return ir::Load::make(stage->type, storage_.at(stage->name).name, offset);
    }
    case Placement::Root:
      buffers_read.insert(stage->name);
      return ir::Load::make(stage->type, stage->name, flat_index(indices, stage->extents));
  }
  KILN_UNREACHABLE("unknown placement");
}

const TensorDecl* KernelLowering::find_tensor_in(const std::vector<TensorDecl>& list, const std::string& name) {
  for (const TensorDecl& t : list) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// A split with a separate remainder loop emits it after its outer loop: an outer fused or
// split again has no loop of its own, and the remainder's points would be lost.
void KernelLowering::check_remainders_have_loops(const NestContext& ctx) const {
  for (const Relation& r : ctx.schedule->relations) {
    if (r.kind != Relation::Kind::Split || r.tail != TailStrategy::SeparateLoop ||
        divides(r.factor, r.old_extent, def_.size_multiples)) {
      continue;
    }
    KILN_CHECK(std::any_of(ctx.loops.begin(), ctx.loops.end(), [&](const LoopDim& l) { return l.var == r.outer; }),
               "stage '{}': the remainder of split '{}' goes after loop '{}', which was fused or split again",
               ctx.stage->name, r.old_var, r.outer);
  }
}

// Spatial loops may sit inside the reduction loops only as a tile of constant extent, each
// point with accumulators of its own (lower_accumulated_reduction), and not on a GPU.
void KernelLowering::check_reduce_loops_innermost(const NestContext& ctx) const {
  bool in_reduce = false;
  for (const LoopDim& l : ctx.loops) {
    if (in_reduce && !l.is_reduce) {
      KILN_CHECK(ir::as_const_int(l.extent) && l.kind != ForKind::GpuBlock && l.kind != ForKind::GpuThread &&
                     l.kind != ForKind::Parallel,
                 "stage '{}': spatial loop '{}' inside its reduction loops must be a tile of constant extent",
                 ctx.stage->name, l.var);
      for (const Relation& r : ctx.schedule->relations) {
        KILN_CHECK(!(r.kind == Relation::Kind::Split && r.inner == l.var && r.tail == TailStrategy::GuardWithIf &&
                     !divides(r.factor, r.old_extent, def_.size_multiples)),
                   "stage '{}': tile loop '{}' inside the reduction needs a split without guards", ctx.stage->name,
                   l.var);
      }
    }
    in_reduce = in_reduce || l.is_reduce;
  }
}

// A split's guard (`k < extent`, for a factor that may not divide) must not depend on a
// vectorized loop: it would hold for some lanes and not others, and a vector load or store
// under it would touch the elements past the edge it exists to avoid.
void KernelLowering::check_guards_uniform_across_lanes(const NestContext& ctx) const {
  for (const Relation& r : ctx.schedule->relations) {
    if (r.kind != Relation::Kind::Split || r.tail != TailStrategy::GuardWithIf ||
        divides(r.factor, r.old_extent, def_.size_multiples)) {
      continue;
    }
    // The loops r.old_var is made of: its split's two halves and whatever they became.
    std::set<std::string> parts = {r.outer, r.inner};
    for (const Relation& later : ctx.schedule->relations) {
      if (later.kind == Relation::Kind::Split && parts.count(later.old_var)) parts.insert({later.outer, later.inner});
      if (later.kind == Relation::Kind::Fuse && (parts.count(later.outer) || parts.count(later.inner))) {
        parts.insert(later.fused);
      }
    }
    for (const LoopDim& l : ctx.loops) {
      KILN_CHECK(!(l.kind == ForKind::Vectorized && parts.count(l.var)),
                 "stage '{}': the guard of split '{}' would differ across the lanes of vectorized loop '{}'; split "
                 "with a separate remainder loop, or by a factor that divides the extent",
                 ctx.stage->name, r.old_var, l.var);
    }
  }
}

// The spatial loops inside the reduction loops from `pos` on (positions in ctx.loops).
std::vector<size_t> KernelLowering::tile_loops(const NestContext& ctx, size_t pos) const {
  std::vector<size_t> tile;
  for (size_t i = pos; i < ctx.loops.size(); ++i) {
    if (!ctx.loops[i].is_reduce) tile.push_back(i);
  }
  return tile;
}

// Definitions of replaced variables from their loop variables, latest relation first.
std::vector<std::pair<std::string, Expr>> KernelLowering::definitions(const NestContext& ctx) const {
  std::vector<std::pair<std::string, Expr>> defs;
  const auto& rels = ctx.schedule->relations;
  for (auto it = rels.rbegin(); it != rels.rend(); ++it) {
    if (it->kind == Relation::Kind::Split) {
      defs.emplace_back(it->old_var, named(ctx, it->outer) * it->factor + named(ctx, it->inner));
    } else {
      defs.emplace_back(it->outer, named(ctx, it->fused) / it->old_extent);
      defs.emplace_back(it->inner, named(ctx, it->fused) % it->old_extent);
    }
  }
  return defs;
}

std::set<std::string> KernelLowering::free_vars_of(const NestContext& ctx, const Expr& e) const {
  std::set<std::string> out;
  collect_vars(e, out);
  std::set<std::string> unprefixed;
  for (const std::string& v : out) {
    if (v.compare(0, ctx.prefix.size(), ctx.prefix) == 0) unprefixed.insert(v.substr(ctx.prefix.size()));
  }
  return unprefixed;
}

void KernelLowering::collect_vars(const Expr& e, std::set<std::string>& out) {
  class Collect : public ir::IRMutator {
   public:
    explicit Collect(std::set<std::string>& o) : out_(o) {}
   protected:
    Expr visit(const ir::Var* op, const Expr& e) override {
      out_.insert(op->name);
      return e;
    }
   private:
    std::set<std::string>& out_;
  };
  Collect(out).mutate(e);
}

// Whether `v` is a variable of the stage's loop nest: an axis, or a loop a primitive made.
bool KernelLowering::is_stage_variable(const NestContext& ctx, const std::string& v) {
  const Stage& st = *ctx.stage;
  if (std::find(st.axes.begin(), st.axes.end(), v) != st.axes.end()) return true;
  if (std::find(st.reduce_axes.begin(), st.reduce_axes.end(), v) != st.reduce_axes.end()) return true;
  for (const Relation& r : ctx.schedule->relations) {
    if (v == r.old_var || v == r.outer || v == r.inner || v == r.fused) return true;
  }
  return false;
}

// Wraps `body` in the LetStmts that become computable once the variables in ctx.defined are.
Stmt KernelLowering::with_new_definitions(NestContext& ctx, const std::function<Stmt(NestContext&)>& inner) {
  std::vector<std::pair<std::string, Expr>> lets;
  bool progress = true;
  while (progress) {
    progress = false;
    for (const auto& [name, value] : definitions(ctx)) {
      if (ctx.defined.count(name)) continue;
      const std::set<std::string> deps = free_vars_of(ctx, value);
      // Sizes (a fused loop's extent) are always known; the stage's own variables must wait.
      const auto known = [&](const std::string& d) { return ctx.defined.count(d) > 0 || !is_stage_variable(ctx, d); };
      if (std::all_of(deps.begin(), deps.end(), known)) {
        lets.emplace_back(name, value);
        ctx.defined.insert(name);
        progress = true;
      }
    }
  }
  Stmt body = inner(ctx);
  for (auto it = lets.rbegin(); it != lets.rend(); ++it) {
    body = ir::LetStmt::make(ctx.prefix + it->first, it->second, body);
  }
  return body;
}

Expr KernelLowering::guards(const NestContext& ctx, bool reduce) const {
  Expr condition;
  for (const Relation& r : ctx.schedule->relations) {
    if (r.kind != Relation::Kind::Split || r.is_reduce != reduce) continue;
    if (r.tail != TailStrategy::GuardWithIf || divides(r.factor, r.old_extent, def_.size_multiples)) continue;
    Expr g = named(ctx, r.old_var) < r.old_extent;
    condition = condition.defined() ? (condition && g) : g;
  }
  return condition;
}

Stmt KernelLowering::guarded(const Expr& condition, Stmt body) {
  return condition.defined() ? ir::IfThenElse::make(condition, std::move(body)) : body;
}

// The stage's value at the current point, with its variables renamed and accesses lowered.
Expr KernelLowering::stage_value(const NestContext& ctx) {
  std::map<std::string, Expr> names;
  for (const std::string& a : ctx.stage->axes) {
    auto bound = ctx.bound_axes.find(a);
    names[a] = bound != ctx.bound_axes.end() ? bound->second : named(ctx, a);
  }
  for (const std::string& a : ctx.stage->reduce_axes) names[a] = named(ctx, a);
  return LowerAccesses(*this).mutate(ir::substitute(ctx.stage->body, names));
}

Expr KernelLowering::store_index(const NestContext& ctx) {
  std::map<std::string, Expr> names;
  for (const std::string& a : ctx.stage->axes) names[a] = named(ctx, a);
  return LowerAccesses(*this).mutate(ir::substitute(ctx.store_index, names));
}

// Stores the stage's result, through its epilogue if it has one; outputs are encoded into
// their dtype's storage (f16, bf16, ...).
Stmt KernelLowering::store_result(const NestContext& ctx, Expr value) {
  if (!ctx.stage->epilogue.defined()) {
    if (ctx.output != nullptr) value = encode_element(ctx.output->dtype, value);
    return ir::Store::make(ctx.store_buffer, store_index(ctx), value);
  }
  // The value is bound once, however often the epilogue reads it.
  const std::string bound_value = ctx.prefix + ctx.stage->name + "_value";
  std::map<std::string, Expr> names;
  for (const std::string& a : ctx.stage->axes) {
    auto bound = ctx.bound_axes.find(a);
    names[a] = bound != ctx.bound_axes.end() ? bound->second : named(ctx, a);
  }
  names[kEpilogueValue] = ir::var(bound_value, value.type());
  Expr result = LowerAccesses(*this).mutate(ir::substitute(ctx.stage->epilogue, names));
  if (ctx.output != nullptr) result = encode_element(ctx.output->dtype, result);
  return ir::LetStmt::make(bound_value, value, ir::Store::make(ctx.store_buffer, store_index(ctx), result));
}

size_t KernelLowering::first_reduce_loop(const NestContext& ctx) const {
  for (size_t i = 0; i < ctx.loops.size(); ++i) {
    if (ctx.loops[i].is_reduce) return i;
  }
  return ctx.loops.size();
}

const Relation* KernelLowering::separate_tail_split(const NestContext& ctx, const std::string& outer) const {
  for (const Relation& r : ctx.schedule->relations) {
    if (r.kind == Relation::Kind::Split && r.outer == outer && r.tail == TailStrategy::SeparateLoop &&
        !divides(r.factor, r.old_extent, def_.size_multiples)) {
      return &r;
    }
  }
  return nullptr;
}

Stmt KernelLowering::lower_nest(NestContext& ctx, size_t pos) {
  const bool is_reduction = ctx.stage->reduce != ReduceKind::None;
  if (is_reduction && pos == first_reduce_loop(ctx)) return lower_reduction(ctx, pos);
  if (pos == ctx.loops.size()) {
    return guarded(guards(ctx, false), store_result(ctx, stage_value(ctx)));
  }
  return lower_loop(ctx, pos, [this, pos](NestContext& c) { return lower_nest(c, pos + 1); });
}

// One loop of the nest, and a serial remainder loop after it where the split asks for one.
Stmt KernelLowering::lower_loop(NestContext& ctx, size_t pos, const std::function<Stmt(NestContext&)>& rest) {
  const LoopDim loop = ctx.loops[pos];
  auto body_of = [&](NestContext& c) {
    c.defined.insert(loop.var);
    return with_new_definitions(c, [&](NestContext& cc) { return with_compute_at_stages(cc, loop.var, rest); });
  };
  NestContext main_ctx = ctx;
  Stmt main = ir::For::make(ctx.prefix + loop.var, Expr(int64_t{0}), loop.extent, loop.kind, body_of(main_ctx),
                            loop.gpu_dim);
  const Relation* tail = separate_tail_split(ctx, loop.var);
  if (tail == nullptr) return main;
  // Remainder: outer fixed at the number of full tiles, inner running serially over the rest.
  // Where the inner was split again (a tile of it), its parts give way to one loop over the
  // rest, where the first of them was: the finer tiling is for full tiles only.
  std::set<std::string> parts = {tail->inner};
  for (const Relation& r : ctx.schedule->relations) {
    if (r.kind == Relation::Kind::Split && parts.count(r.old_var)) parts.insert({r.outer, r.inner});
    KILN_CHECK(!(r.kind == Relation::Kind::Fuse && (parts.count(r.outer) || parts.count(r.inner))),
               "stage '{}': the remainder of split '{}' needs '{}' as a loop, but it was fused", ctx.stage->name,
               tail->old_var, tail->inner);
  }
  NestContext tail_ctx = ctx;
  tail_ctx.loops.clear();
  bool placed = false;
  for (const LoopDim& l : ctx.loops) {
    if (!parts.count(l.var)) {
      tail_ctx.loops.push_back(l);
    } else if (!placed) {
      LoopDim remaining = l;
      remaining.var = tail->inner;
      remaining.extent = tail->old_extent - (tail->old_extent / tail->factor) * tail->factor;
      remaining.kind = ForKind::Serial;
      tail_ctx.loops.push_back(remaining);
      placed = true;
    }
  }
  KILN_CHECK(placed, "stage '{}': the remainder of split '{}' has no loop '{}'", ctx.stage->name, tail->old_var,
             tail->inner);
  // A remainder of a tile inside the reduction moves out in front of it: each of its points
  // then runs the whole reduction with the untiled code.
  const size_t first_reduce = first_reduce_loop(tail_ctx);
  for (size_t i = first_reduce; i < tail_ctx.loops.size(); ++i) {
    if (tail_ctx.loops[i].var != tail->inner || tail_ctx.loops[i].is_reduce) continue;
    const LoopDim moved = tail_ctx.loops[i];
    tail_ctx.loops.erase(tail_ctx.loops.begin() + static_cast<std::ptrdiff_t>(i));
    tail_ctx.loops.insert(tail_ctx.loops.begin() + static_cast<std::ptrdiff_t>(first_reduce), moved);
    break;
  }
  Stmt remainder = ir::LetStmt::make(ctx.prefix + loop.var, tail->old_extent / tail->factor, body_of(tail_ctx));
  return ir::Block::make({main, remainder});
}

}  // namespace nest

LoopNest build_loop_nest(const Schedule& schedule, const Stage& root, const std::map<std::string, LocalStorage>& storage,
                         int64_t shared_memory_bytes) {
  nest::KernelLowering lowering(schedule, storage, shared_memory_bytes);
  LoopNest result;
  result.body = lowering.lower_root(root);
  result.buffers_read = lowering.buffers_read;
  return result;
}

}  // namespace kiln::kernel
