#include "kernel/lower/loop_nest.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "base/error.h"
#include "kernel/compute/dequant_expr.h"
#include "kernel/ir/equal.h"
#include "kernel/ir/evaluate.h"
#include "kernel/ir/printer.h"
#include "kernel/ir/simplify.h"
#include "kernel/ir/visitor.h"

namespace kiln::kernel {
namespace {

using ir::Expr;
using ir::ForKind;
using ir::MemoryScope;
using ir::Stmt;
using ir::Type;

Expr flat_index(const std::vector<Expr>& indices, const std::vector<Expr>& extents) {
  KILN_CHECK(indices.size() == extents.size(), "{} indices for {} dimensions", indices.size(), extents.size());
  if (indices.empty()) return Expr(int64_t{0});
  Expr flat = indices[0];
  for (size_t d = 1; d < indices.size(); ++d) flat = flat * extents[d] + indices[d];
  return flat;
}

// Whether `factor` divides `extent`: both constants, or the extent a size the definition
// declares a multiple of the factor.
bool divides(const Expr& factor, const Expr& extent, const std::map<std::string, int64_t>& multiples) {
  const int64_t* f = ir::as_const_int(factor);
  if (f == nullptr || *f <= 0) return false;
  if (const int64_t* e = ir::as_const_int(extent)) return *e % *f == 0;
  const ir::Var* v = extent.as<ir::Var>();
  auto it = v ? multiples.find(v->name) : multiples.end();
  return it != multiples.end() && it->second % *f == 0;
}

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

  Stmt lower_root(const Stage& stage) {
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
    check_reduce_loops_innermost(ctx);
    check_guards_uniform_across_lanes(ctx);
    return lower_nest(ctx, 0);
  }

  std::set<std::string> buffers_read;

  Expr lower_access(const ir::Access* op) {
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

 private:
  static const TensorDecl* find_tensor_in(const std::vector<TensorDecl>& list, const std::string& name) {
    for (const TensorDecl& t : list) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }

  // Spatial loops may sit inside the reduction loops only as a tile of constant extent, each
  // point with accumulators of its own (lower_accumulated_reduction), and not on a GPU.
  void check_reduce_loops_innermost(const NestContext& ctx) const {
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
  void check_guards_uniform_across_lanes(const NestContext& ctx) const {
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
  std::vector<size_t> tile_loops(const NestContext& ctx, size_t pos) const {
    std::vector<size_t> tile;
    for (size_t i = pos; i < ctx.loops.size(); ++i) {
      if (!ctx.loops[i].is_reduce) tile.push_back(i);
    }
    return tile;
  }

  Expr named(const NestContext& ctx, const std::string& v) const { return ir::var(ctx.prefix + v); }

  // Definitions of replaced variables from their loop variables, latest relation first.
  std::vector<std::pair<std::string, Expr>> definitions(const NestContext& ctx) const {
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

  std::set<std::string> free_vars_of(const NestContext& ctx, const Expr& e) const {
    std::set<std::string> out;
    collect_vars(e, out);
    std::set<std::string> unprefixed;
    for (const std::string& v : out) {
      if (v.compare(0, ctx.prefix.size(), ctx.prefix) == 0) unprefixed.insert(v.substr(ctx.prefix.size()));
    }
    return unprefixed;
  }

  static void collect_vars(const Expr& e, std::set<std::string>& out) {
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
  static bool is_stage_variable(const NestContext& ctx, const std::string& v) {
    const Stage& st = *ctx.stage;
    if (std::find(st.axes.begin(), st.axes.end(), v) != st.axes.end()) return true;
    if (std::find(st.reduce_axes.begin(), st.reduce_axes.end(), v) != st.reduce_axes.end()) return true;
    for (const Relation& r : ctx.schedule->relations) {
      if (v == r.old_var || v == r.outer || v == r.inner || v == r.fused) return true;
    }
    return false;
  }

  // Wraps `body` in the LetStmts that become computable once the variables in ctx.defined are.
  Stmt with_new_definitions(NestContext& ctx, const std::function<Stmt(NestContext&)>& inner) {
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

  Expr guards(const NestContext& ctx, bool reduce) const {
    Expr condition;
    for (const Relation& r : ctx.schedule->relations) {
      if (r.kind != Relation::Kind::Split || r.is_reduce != reduce) continue;
      if (r.tail != TailStrategy::GuardWithIf || divides(r.factor, r.old_extent, def_.size_multiples)) continue;
      Expr g = named(ctx, r.old_var) < r.old_extent;
      condition = condition.defined() ? (condition && g) : g;
    }
    return condition;
  }

  static Stmt guarded(const Expr& condition, Stmt body) {
    return condition.defined() ? ir::IfThenElse::make(condition, std::move(body)) : body;
  }

  // The stage's value at the current point, with its variables renamed and accesses lowered.
  Expr stage_value(const NestContext& ctx) {
    std::map<std::string, Expr> names;
    for (const std::string& a : ctx.stage->axes) {
      auto bound = ctx.bound_axes.find(a);
      names[a] = bound != ctx.bound_axes.end() ? bound->second : named(ctx, a);
    }
    for (const std::string& a : ctx.stage->reduce_axes) names[a] = named(ctx, a);
    return LowerAccesses(*this).mutate(ir::substitute(ctx.stage->body, names));
  }

  Expr store_index(const NestContext& ctx) {
    std::map<std::string, Expr> names;
    for (const std::string& a : ctx.stage->axes) names[a] = named(ctx, a);
    return LowerAccesses(*this).mutate(ir::substitute(ctx.store_index, names));
  }

  // Stores the stage's result, through its epilogue if it has one; outputs are encoded into
  // their dtype's storage (f16, bf16, ...).
  Stmt store_result(const NestContext& ctx, Expr value) {
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

  size_t first_reduce_loop(const NestContext& ctx) const {
    for (size_t i = 0; i < ctx.loops.size(); ++i) {
      if (ctx.loops[i].is_reduce) return i;
    }
    return ctx.loops.size();
  }

  const Relation* separate_tail_split(const NestContext& ctx, const std::string& outer) const {
    for (const Relation& r : ctx.schedule->relations) {
      if (r.kind == Relation::Kind::Split && r.outer == outer && r.tail == TailStrategy::SeparateLoop &&
          !divides(r.factor, r.old_extent, def_.size_multiples)) {
        return &r;
      }
    }
    return nullptr;
  }

  Stmt lower_nest(NestContext& ctx, size_t pos) {
    const bool is_reduction = ctx.stage->reduce != ReduceKind::None;
    if (is_reduction && pos == first_reduce_loop(ctx)) return lower_reduction(ctx, pos);
    if (pos == ctx.loops.size()) {
      return guarded(guards(ctx, false), store_result(ctx, stage_value(ctx)));
    }
    return lower_loop(ctx, pos, [this, pos](NestContext& c) { return lower_nest(c, pos + 1); });
  }

  // One loop of the nest, and a serial remainder loop after it where the split asks for one.
  Stmt lower_loop(NestContext& ctx, size_t pos, const std::function<Stmt(NestContext&)>& rest) {
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
    KILN_CHECK(std::any_of(ctx.loops.begin(), ctx.loops.end(), [&](const LoopDim& l) { return l.var == tail->inner; }),
               "stage '{}': the remainder of split '{}' needs '{}' as a loop, but it was split again", ctx.stage->name,
               tail->old_var, tail->inner);
    NestContext tail_ctx = ctx;
    for (LoopDim& l : tail_ctx.loops) {
      if (l.var == tail->inner) {
        l.extent = tail->old_extent - (tail->old_extent / tail->factor) * tail->factor;
        l.kind = ForKind::Serial;
      }
    }
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

  Stmt lower_reduction(NestContext& ctx, size_t pos) {
    const Expr spatial_guard = guards(ctx, false);
    const size_t rf = rfactor_loop(ctx);
    for (size_t i = pos; i < ctx.loops.size(); ++i) {
      KILN_CHECK(ctx.loops[i].kind != ForKind::GpuThread || i == rf,
                 "stage '{}': reduce loop '{}' is bound to GPU threads without rfactor: each thread needs a partial "
                 "result of its own", ctx.stage->name, ctx.loops[i].var);
    }
    if (rf < ctx.loops.size() && ctx.loops[rf].kind == ForKind::GpuThread) {
      KILN_CHECK(rf == pos, "stage '{}': the reduce loop across threads, '{}', must be the outermost reduce loop",
                 ctx.stage->name, ctx.loops[rf].var);
      return lower_cross_thread_reduction(ctx, pos, spatial_guard);
    }
    if (spatial_guard.defined() && has_region_copy_inside(ctx, pos)) {
      ctx.deferred_guard = spatial_guard;
      return lower_accumulated_reduction(ctx, pos, tile_loops(ctx, pos));
    }
    return guarded(spatial_guard, lower_accumulated_reduction(ctx, pos, tile_loops(ctx, pos)));
  }

  // Whether a region copy is computed at one of the loops from `pos` on.
  bool has_region_copy_inside(const NestContext& ctx, size_t pos) const {
    for (const Stage& s : def_.stages) {
      const StageSchedule& ss = schedule_.of(s.name);
      if (ss.placement != Placement::ComputeAt || ss.at_stage != ctx.stage->name || !is_region_copy(s)) continue;
      for (size_t i = pos; i < ctx.loops.size(); ++i) {
        if (ctx.loops[i].var == ss.at_loop) return true;
      }
    }
    return false;
  }

  // A stage computed at a consumer's loop into shared memory, element-wise: the part of it the
  // consumer reads inside that loop, loaded by the work-group together (cache_read).
  bool is_region_copy(const Stage& s) const {
    const StageSchedule& ss = schedule_.of(s.name);
    KILN_CHECK(!ss.copy || ss.storage == MemoryScope::Shared, "copy '{}' must be stored in shared memory", s.name);
    return ss.copy && ss.placement == Placement::ComputeAt;
  }

  // A reduction on the CPU: accumulators in registers, set to the identity before the reduction
  // loops and stored after them. The rfactor loop (a vectorized reduce loop, with the unrolled
  // reduce loops inside it) keeps one accumulator per lane, combined across lanes once at the
  // end: a horizontal reduction per iteration, or one accumulator for all copies, would chain
  // every iteration on it. Spatial loops inside the reduction (`tile`, a register tile: rows of a
  // matmul that share each weight block, columns of attention's output that share each
  // probability) give every point of the tile accumulators of its own:
  // acc[point * lanes + lane].
  Stmt lower_accumulated_reduction(NestContext& ctx, size_t pos, const std::vector<size_t>& tile) {
    const Stage& stage = *ctx.stage;
    const Type type = stage.type;
    const int64_t lanes = std::max<int64_t>(1, vector_reduce_lanes(ctx, pos));
    const std::string acc = ctx.prefix + stage.name + (!tile.empty() ? "_tile" : lanes > 1 ? "_lanes" : "_acc");
    const std::string lane = ctx.prefix + stage.name + "_lane";
    Expr point = Expr(int64_t{0});
    int64_t points = 1;
    for (size_t t : tile) {
      const int64_t extent = *ir::as_const_int(ctx.loops[t].extent);
      point = point * Expr(extent) + named(ctx, ctx.loops[t].var);
      points *= extent;
    }
    point = ir::simplify(point);
    // The tile's loops again, around `inner`, with the variables they define.
    const std::function<Stmt(NestContext&, size_t, const std::function<Stmt(NestContext&)>&)> over_tile =
        [&](NestContext& c, size_t k, const std::function<Stmt(NestContext&)>& inner) -> Stmt {
      if (k == tile.size()) return inner(c);
      const LoopDim& l = ctx.loops[tile[k]];
      NestContext in = c;
      in.defined.insert(l.var);
      return ir::For::make(c.prefix + l.var, Expr(int64_t{0}), l.extent, l.kind, over_tile(in, k + 1, inner), l.gpu_dim);
    };
    const Expr identity = reduce_identity(stage.reduce, type);
    const auto init = [&](NestContext&) -> Stmt {
      if (lanes == 1) return ir::Store::make(acc, point, identity);
      return ir::For::make(lane, Expr(int64_t{0}), Expr(lanes), ForKind::Vectorized,
                           ir::Store::make(acc, point * lanes + ir::var(lane), identity));
    };
    const auto finish = [&](NestContext& c) -> Stmt {
      return with_new_definitions(c, [&](NestContext& cc) -> Stmt {
        if (lanes == 1) return guarded(ctx.deferred_guard, store_result(cc, ir::Load::make(type, acc, point)));
        const std::string sum = ctx.prefix + stage.name + "_acc";
        const Expr sum_value = ir::Load::make(type, sum, Expr(int64_t{0}));
        const Stmt combine = ir::For::make(
            lane, Expr(int64_t{0}), Expr(lanes), ForKind::Vectorized,
            ir::Store::make(sum, Expr(int64_t{0}),
                            reduce_combine(stage.reduce, sum_value, ir::Load::make(type, acc, point * lanes + ir::var(lane)))));
        return ir::Allocate::make(sum, type, Expr(int64_t{1}), MemoryScope::Register,
                                  ir::Block::make({ir::Store::make(sum, Expr(int64_t{0}), identity), combine,
                                                   guarded(ctx.deferred_guard, store_result(cc, sum_value))}));
      });
    };
    const Expr index = lanes > 1 ? point * lanes + lane_accumulator_index(ctx) : point;
    NestContext init_ctx = ctx, finish_ctx = ctx;
    const Stmt body = ir::Block::make({over_tile(init_ctx, 0, init), lower_reduce_loops(ctx, pos, acc, index),
                                       over_tile(finish_ctx, 0, finish)});
    return ir::Allocate::make(acc, type, Expr(points * lanes), MemoryScope::Register, body);
  }

  // Where the stage's rfactor loop sits among ctx.loops, or ctx.loops.size() for none.
  size_t rfactor_loop(const NestContext& ctx) const {
    const std::string& var = ctx.schedule->rfactor;
    for (size_t i = 0; i < ctx.loops.size(); ++i) {
      if (!var.empty() && ctx.loops[i].var == var) return i;
    }
    return ctx.loops.size();
  }

  // The number of accumulators: the product of the extents of the rfactor loop and the loops
  // inside it, which must all be reduce loops of constant extent; 0 for one accumulator.
  int64_t vector_reduce_lanes(const NestContext& ctx, size_t pos) const {
    const size_t first = rfactor_loop(ctx);
    if (first == ctx.loops.size()) return 0;
    KILN_CHECK(first >= pos, "stage '{}': rfactor loop '{}' is outside the reduction", ctx.stage->name,
               ctx.schedule->rfactor);
    KILN_CHECK(ctx.schedule->storage != MemoryScope::Shared,
               "stage '{}': per-lane partials live in registers, not in shared memory", ctx.stage->name);
    int64_t lanes = 1;
    for (size_t i = first; i < ctx.loops.size(); ++i) {
      const LoopDim& l = ctx.loops[i];
      KILN_CHECK(l.is_reduce && ir::as_const_int(l.extent) && l.kind != ForKind::GpuBlock && l.kind != ForKind::GpuThread,
                 "stage '{}': loop '{}' inside rfactor loop '{}' must be a reduce loop of constant extent",
                 ctx.stage->name, l.var, ctx.schedule->rfactor);
      lanes *= *ir::as_const_int(l.extent);
    }
    return lanes;
  }

  // Which accumulator the current point updates: the variables of the rfactor loop and the
  // loops inside it, flattened.
  Expr lane_accumulator_index(const NestContext& ctx) const {
    const size_t first = rfactor_loop(ctx);
    Expr index = named(ctx, ctx.loops[first].var);
    for (size_t i = first + 1; i < ctx.loops.size(); ++i) index = index * ctx.loops[i].extent + named(ctx, ctx.loops[i].var);
    return index;
  }

  // The reduce loops from `pos` in, each point combining its value into acc[index].
  Stmt lower_reduce_loops(NestContext& ctx, size_t pos, const std::string& acc, const Expr& index) {
    if (pos == ctx.loops.size()) {
      const Expr acc_value = ir::Load::make(ctx.stage->type, acc, index);
      Stmt update = ir::Store::make(acc, index, reduce_combine(ctx.stage->reduce, acc_value, stage_value(ctx)));
      Expr condition = guards(ctx, true);
      if (ctx.deferred_guard.defined()) condition = condition.defined() ? (ctx.deferred_guard && condition) : ctx.deferred_guard;
      return guarded(condition, update);
    }
    return lower_loop(ctx, pos, [this, pos, acc, index](NestContext& c) { return lower_reduce_loops(c, pos + 1, acc, index); });
  }

  // A reduction spread over the threads of a work-group: each thread reduces its share into a
  // register, the partials meet in shared memory, and a tree of halving steps combines them.
  Stmt lower_cross_thread_reduction(NestContext& ctx, size_t pos, const Expr& spatial_guard) {
    const Stage& stage = *ctx.stage;
    const LoopDim thread_loop = ctx.loops[pos];
    const int64_t* threads = ir::as_const_int(thread_loop.extent);
    KILN_CHECK(threads && *threads > 0 && (*threads & (*threads - 1)) == 0,
               "stage '{}': a cross-thread reduction needs a power-of-two thread count", stage.name);
    KILN_CHECK(!spatial_guard.defined(), "stage '{}': a cross-thread reduction cannot sit under a guard", stage.name);
    KILN_CHECK(ctx.schedule->storage == MemoryScope::Shared,
               "stage '{}': partials of a reduction across threads must be stored in shared memory", stage.name);
    const bool is_local = storage_.count(stage.name) > 0;
    const std::string partial = is_local ? storage_.at(stage.name).name : ctx.prefix + stage.name + "_partial";
    const std::string acc = ctx.prefix + stage.name + "_acc";
    const Type type = stage.type;

    auto thread_body = [&](NestContext& c) -> Stmt {
      const Expr tid = named(c, thread_loop.var);
      const Expr acc_value = ir::Load::make(type, acc, Expr(int64_t{0}));
      Stmt own_share = ir::Allocate::make(
          acc, type, Expr(int64_t{1}), MemoryScope::Register,
          ir::Block::make({ir::Store::make(acc, Expr(int64_t{0}), reduce_identity(stage.reduce, type)),
                           lower_reduce_loops(c, pos + 1, acc, Expr(int64_t{0})),
                           ir::Store::make(partial, tid, acc_value)}));
      std::vector<Stmt> steps = {own_share, ir::Barrier::make()};
      for (int64_t half = *threads / 2; half >= 1; half /= 2) {
        const Expr mine = ir::Load::make(type, partial, tid);
        const Expr other = ir::Load::make(type, partial, tid + half);
        steps.push_back(ir::IfThenElse::make(tid < half, ir::Store::make(partial, tid, reduce_combine(stage.reduce, mine, other))));
        steps.push_back(ir::Barrier::make());
      }
      if (!is_local) {
        steps.push_back(ir::IfThenElse::make(
            tid == Expr(int64_t{0}),
            store_result(c, ir::Load::make(type, partial, Expr(int64_t{0})))));
      }
      return ir::Block::make(steps);
    };
    NestContext thread_ctx = ctx;
    thread_ctx.defined.insert(thread_loop.var);
    Stmt loop = ir::For::make(ctx.prefix + thread_loop.var, Expr(int64_t{0}), thread_loop.extent, ForKind::GpuThread,
                              with_new_definitions(thread_ctx, thread_body), thread_loop.gpu_dim);
    if (is_local) return loop;
    return ir::Allocate::make(partial, type, thread_loop.extent, MemoryScope::Shared, loop);
  }

  // Inside loop `var` of the current stage: the stages computed there, each in its storage,
  // produced before the rest of the body.
  Stmt with_compute_at_stages(NestContext& ctx, const std::string& var, const std::function<Stmt(NestContext&)>& rest) {
    std::vector<const Stage*> here;
    for (const Stage& s : def_.stages) {
      const StageSchedule& ss = schedule_.of(s.name);
      if (ss.placement == Placement::ComputeAt && ss.at_stage == ctx.stage->name && ss.at_loop == var) here.push_back(&s);
    }
    // Producers first: a region copy records where its region starts, which the body's reads need.
    std::vector<Stmt> produced;
    std::vector<int64_t> elements;
    bool copies = false;
    for (const Stage* producer : here) {
      if (is_region_copy(*producer)) {
        const int64_t size = plan_region(ctx, var, *producer);
        produced.push_back(copy_region(ctx, *producer));
        elements.push_back(size);
        copies = true;
      } else {
        produced.push_back(produce_at(ctx, *producer));
        elements.push_back(storage_.at(producer->name).elements);
      }
    }
    Stmt body = rest(ctx);
    // The work-group waits until every copy is complete before reading it, and until every
    // read is done before the next iteration overwrites it.
    if (copies) body = ir::Block::make({ir::Barrier::make(), body, ir::Barrier::make()});
    for (size_t k = here.size(); k-- > 0;) {
      const Stage& producer = *here[k];
      const LocalStorage& store = storage_.at(producer.name);
      body = ir::Allocate::make(store.name, producer.type, Expr(elements[k]), store.scope,
                                ir::Block::make({produced[k], body}));
    }
    return body;
  }

  // The consumer's loop variables that vary inside its loop `var`: the loops nested in it, and
  // the GPU thread loops (the work-group shares the copy).
  std::map<std::string, int64_t> varying_inside(const NestContext& ctx, const std::string& var) const {
    std::map<std::string, int64_t> varying;
    bool inside = false;
    for (const LoopDim& l : ctx.loops) {
      if (inside || l.kind == ForKind::GpuThread) {
        const int64_t* extent = ir::as_const_int(l.extent);
        KILN_CHECK(extent != nullptr, "stage '{}': a copy at loop '{}' needs constant extents inside it, not '{}'",
                   ctx.stage->name, var, l.var);
        varying[ctx.prefix + l.var] = *extent;
      }
      inside = inside || l.var == var;
    }
    return varying;
  }

  // Where the region of `producer` the consumer reads inside loop `var` starts, and its
  // extents: each index of the consumer's access, written over loop variables, is a corner
  // fixed by the outer loops plus an offset over the varying ones, of constant range.
  int64_t plan_region(const NestContext& ctx, const std::string& var, const Stage& producer) {
    KILN_CHECK(ctx.prefix.empty(), "stage '{}': a region copy inside a stage computed elsewhere", producer.name);
    FindAccess finder(producer.name);
    finder.mutate(ctx.stage->body);
    if (ctx.stage->epilogue.defined()) finder.mutate(ctx.stage->epilogue);
    KILN_CHECK(finder.found != nullptr, "stage '{}' is computed at '{}', which does not read it", producer.name,
               ctx.stage->name);
    // The region is planned from one read; a read at other indices could fall outside it.
    for (const ir::Access* other : finder.all) {
      for (size_t d = 0; d < other->indices.size(); ++d) {
        KILN_CHECK(ir::equal(other->indices[d], finder.found->indices[d]),
                   "stage '{}': '{}' reads its copy '{}' at different indices; a copy serves one read pattern",
                   ctx.stage->name, ctx.stage->name, producer.name);
      }
    }
    std::map<std::string, Expr> defs;
    for (const auto& [name, value] : definitions(ctx)) defs[name] = value;
    const std::map<std::string, int64_t> varying = varying_inside(ctx, var);
    std::map<std::string, Expr> at_zero;
    for (const auto& [v, extent] : varying) at_zero[v] = Expr(int64_t{0});
    Region region;
    int64_t size = 1;
    for (const Expr& index : finder.found->indices) {
      // Down to loop variables: each pass replaces a variable by what defines it, until none is left.
      Expr e = index;
      for (Expr next = ir::substitute(e, defs); !ir::equal(next, e); next = ir::substitute(e, defs)) e = next;
      const Expr min = ir::simplify(ir::substitute(e, at_zero));
      const Expr offset = ir::simplify(e - min);
      std::set<std::string> used;
      collect_vars(offset, used);
      std::vector<std::pair<std::string, int64_t>> over;
      int64_t points = 1;
      for (const std::string& v : used) {
        auto it = varying.find(v);
        KILN_CHECK(it != varying.end(), "stage '{}': copy index {} depends on '{}' beyond the region's loops",
                   producer.name, ir::to_string(offset), v);
        over.emplace_back(v, it->second);
        points *= it->second;
        KILN_CHECK(points <= (1 << 16), "stage '{}': copy region too large to plan", producer.name);
      }
      // Every point of the varying loops: the offsets must cover 0 .. extent - 1.
      int64_t lo = INT64_MAX, hi = INT64_MIN;
      std::map<std::string, int64_t> values;
      for (int64_t p = 0; p < points; ++p) {
        int64_t rest = p;
        for (const auto& [v, extent] : over) {
          values[v] = rest % extent;
          rest /= extent;
        }
        const int64_t o = ir::evaluate_int(offset, values);
        lo = std::min(lo, o);
        hi = std::max(hi, o);
      }
      KILN_CHECK(lo == 0, "stage '{}': copy offset {} does not start at 0", producer.name, ir::to_string(offset));
      region.mins.push_back(min);
      region.extents.push_back(hi + 1);
      size *= hi + 1;
    }
    KILN_CHECK(size * producer.type.bytes() <= shared_memory_bytes_,
               "stage '{}': a copy of {} elements does not fit the target's {} bytes of shared memory",
               producer.name, size, shared_memory_bytes_);
    regions_[producer.name] = region;
    return size;
  }

  // The work-group's threads load the region together: element e of the copy by thread
  // e % threads; elements past the input's edge are left unset (nothing reads them: the
  // consumer's own guards skip those points).
  Stmt copy_region(const NestContext& ctx, const Stage& producer) {
    const Region& region = regions_.at(producer.name);
    Expr tid = Expr(int64_t{0});
    int64_t threads = 1;
    for (const LoopDim& l : ctx.loops) {
      if (l.kind != ForKind::GpuThread) continue;
      tid = tid * l.extent + named(ctx, l.var);
      threads *= *ir::as_const_int(l.extent);
    }
    int64_t size = 1;
    for (int64_t e : region.extents) size *= e;
    const std::string prefix = ctx.prefix + producer.name + "_";
    const Expr element = ir::var(prefix + "e");
    std::map<std::string, Expr> axes;
    Expr inside;
    Expr stride = Expr(int64_t{1});
    std::vector<std::pair<std::string, Expr>> coords;
    for (size_t d = region.extents.size(); d-- > 0;) {
      const std::string coord = prefix + producer.axes[d];
      coords.emplace_back(coord, (element / stride) % Expr(region.extents[d]));
      stride = stride * Expr(region.extents[d]);
      axes[producer.axes[d]] = region.mins[d] + ir::var(coord);
      const Expr in_bounds = region.mins[d] + ir::var(coord) < producer.extents[d];
      inside = inside.defined() ? (inside && in_bounds) : in_bounds;
    }
    const Expr value = LowerAccesses(*this).mutate(ir::substitute(producer.body, axes));
    Stmt body = guarded(inside, ir::Store::make(storage_.at(producer.name).name, element, value));
    for (const auto& [coord, value_of] : coords) body = ir::LetStmt::make(coord, value_of, body);
    body = guarded(size % threads == 0 ? Expr() : element < Expr(size), body);
    body = ir::LetStmt::make(prefix + "e", ir::var(prefix + "o") * Expr(threads) + tid, body);
    return ir::For::make(prefix + "o", Expr(int64_t{0}), Expr((size + threads - 1) / threads), ForKind::Serial, body);
  }

  Stmt produce_at(const NestContext& consumer, const Stage& producer) {
    FindAccess finder(producer.name);
    finder.mutate(consumer.stage->body);
    KILN_CHECK(finder.found != nullptr, "stage '{}' is computed at '{}', which does not read it", producer.name,
               consumer.stage->name);
    NestContext ctx;
    ctx.stage = &producer;
    ctx.schedule = &schedule_.of(producer.name);
    ctx.prefix = consumer.prefix + producer.name + "_";
    std::map<std::string, Expr> consumer_names;
    for (const std::string& a : consumer.stage->axes) consumer_names[a] = named(consumer, a);
    for (size_t d = 0; d < producer.axes.size(); ++d) {
      ctx.bound_axes[producer.axes[d]] = ir::substitute(finder.found->indices[d], consumer_names);
    }
    for (const LoopDim& l : ctx.schedule->loops) {
      if (!l.is_reduce && ctx.bound_axes.count(l.var)) continue;  // fixed by the consumer
      KILN_CHECK(l.is_reduce, "stage '{}' computed at '{}' keeps spatial loop '{}'; only reductions over bound axes are supported",
                 producer.name, consumer.stage->name, l.var);
      ctx.loops.push_back(l);
    }
    check_guards_uniform_across_lanes(ctx);
    ctx.store_buffer = storage_.at(producer.name).name;
    ctx.store_index = Expr(int64_t{0});
    if (producer.reduce == ReduceKind::None) {
      return ir::Store::make(ctx.store_buffer, Expr(int64_t{0}), stage_value(ctx));
    }
    return lower_nest(ctx, 0);
  }

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

Expr LowerAccesses::visit(const ir::Access* op, const Expr&) { return k_.lower_access(op); }

}  // namespace

std::map<std::string, LocalStorage> plan_local_storage(const Schedule& schedule) {
  std::map<std::string, LocalStorage> storage;
  for (const StageSchedule& s : schedule.stages()) {
    if (s.placement != Placement::ComputeAt) continue;
    // Partials across threads are the storage itself: one per thread, read at 0 once combined.
    LocalStorage local{s.at_stage + "_" + s.stage, 1, s.storage};
    for (const LoopDim& l : s.loops) {
      if (l.kind == ForKind::GpuThread && l.var == s.rfactor) local.elements = *ir::as_const_int(l.extent);
    }
    storage[s.stage] = local;
  }
  return storage;
}

LoopNest build_loop_nest(const Schedule& schedule, const Stage& root, const std::map<std::string, LocalStorage>& storage,
                         int64_t shared_memory_bytes) {
  KernelLowering lowering(schedule, storage, shared_memory_bytes);
  LoopNest nest;
  nest.body = lowering.lower_root(root);
  nest.buffers_read = lowering.buffers_read;
  return nest;
}

}  // namespace kiln::kernel
