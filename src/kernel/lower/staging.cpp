// Staging: stages produced inside another stage's loops (compute_at), in registers, or as a
// region of an input copied into shared memory by the whole work-group (cache_read): the
// region the consumer reads inside the loop is planned from its access, loaded by the threads
// together and fenced by barriers.
#include "kernel/lower/nest_builder.h"

#include <algorithm>
#include <climits>

#include "base/error.h"
#include "kernel/ir/equal.h"
#include "kernel/ir/evaluate.h"
#include "kernel/ir/printer.h"
#include "kernel/ir/simplify.h"
#include "kernel/lower/clip_loops.h"

namespace kiln::kernel {
namespace nest {

// Whether a region copy is computed at one of the loops from `pos` on.
bool KernelLowering::has_region_copy_inside(const NestContext& ctx, size_t pos) const {
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
bool KernelLowering::is_region_copy(const Stage& s) const {
  const StageSchedule& ss = schedule_.of(s.name);
  KILN_CHECK(!ss.copy || ss.storage == MemoryScope::Shared, "copy '{}' must be stored in shared memory", s.name);
  return ss.copy && ss.placement == Placement::ComputeAt;
}

// Inside loop `var` of the current stage: the stages computed there, each in its storage,
// produced before the rest of the body.
Stmt KernelLowering::with_compute_at_stages(NestContext& ctx, const std::string& var, const std::function<Stmt(NestContext&)>& rest) {
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
std::map<std::string, int64_t> KernelLowering::varying_inside(const NestContext& ctx, const std::string& var) const {
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
int64_t KernelLowering::plan_region(const NestContext& ctx, const std::string& var, const Stage& producer) {
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
Stmt KernelLowering::copy_region(const NestContext& ctx, const Stage& producer) {
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

Stmt KernelLowering::produce_at(const NestContext& consumer, const Stage& producer) {
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
  if (!producer.predicate.defined()) return lower_nest(ctx, 0);
  // The points it may skip, in this nest's names: bound axes as the consumer's indices, its
  // own (reduce) axes prefixed.
  std::map<std::string, Expr> names = ctx.bound_axes;
  for (const std::string& r : producer.reduce_axes) names[r] = ir::var(ctx.prefix + r);
  return clip_loops(lower_nest(ctx, 0), ir::substitute(producer.predicate, names));
}

}  // namespace nest

std::map<std::string, LocalStorage> plan_local_storage(const Schedule& schedule) {
  std::map<std::string, LocalStorage> storage;
  for (const StageSchedule& s : schedule.stages()) {
    if (s.placement != Placement::ComputeAt) continue;
    // Partials across threads are the storage itself: one per thread, read at 0 once combined.
    LocalStorage local{s.at_stage + "_" + s.stage, 1, s.storage};
    for (const LoopDim& l : s.loops) {
      if (l.kind == ir::ForKind::GpuThread && l.var == s.rfactor) local.elements = *ir::as_const_int(l.extent);
    }
    storage[s.stage] = local;
  }
  return storage;
}

}  // namespace kiln::kernel
