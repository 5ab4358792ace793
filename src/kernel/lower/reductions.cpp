// Reductions in the nest: accumulators set to the identity before the reduction loops and
// stored after them. With rfactor, one accumulator per vector lane (and per unrolled copy, and
// per point of a register tile), combined once after the loops; on a GPU, one partial per
// thread in shared memory, combined by a tree of halving steps between barriers.
#include "kernel/lower/nest_builder.h"

#include <algorithm>

#include "base/error.h"
#include "kernel/ir/simplify.h"

namespace kiln::kernel::nest {

Stmt KernelLowering::lower_reduction(NestContext& ctx, size_t pos) {
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

// A reduction on the CPU: accumulators in registers, set to the identity before the reduction
// loops and stored after them. The rfactor loop (a vectorized reduce loop, with the unrolled
// reduce loops inside it) keeps one accumulator per lane, combined across lanes once at the
// end: a horizontal reduction per iteration, or one accumulator for all copies, would chain
// every iteration on it. Spatial loops inside the reduction (`tile`, a register tile: rows of a
// matmul that share each weight block, columns of attention's output that share each
// probability) give every point of the tile accumulators of its own:
// acc[point * lanes + lane].
Stmt KernelLowering::lower_accumulated_reduction(NestContext& ctx, size_t pos, const std::vector<size_t>& tile) {
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
size_t KernelLowering::rfactor_loop(const NestContext& ctx) const {
  const std::string& var = ctx.schedule->rfactor;
  for (size_t i = 0; i < ctx.loops.size(); ++i) {
    if (!var.empty() && ctx.loops[i].var == var) return i;
  }
  return ctx.loops.size();
}

// The number of accumulators: the product of the extents of the rfactor loop and the loops
// inside it, which must all be reduce loops of constant extent; 0 for one accumulator.
int64_t KernelLowering::vector_reduce_lanes(const NestContext& ctx, size_t pos) const {
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
Expr KernelLowering::lane_accumulator_index(const NestContext& ctx) const {
  const size_t first = rfactor_loop(ctx);
  Expr index = named(ctx, ctx.loops[first].var);
  for (size_t i = first + 1; i < ctx.loops.size(); ++i) index = index * ctx.loops[i].extent + named(ctx, ctx.loops[i].var);
  return index;
}

// The reduce loops from `pos` in, each point combining its value into acc[index].
Stmt KernelLowering::lower_reduce_loops(NestContext& ctx, size_t pos, const std::string& acc, const Expr& index) {
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
Stmt KernelLowering::lower_cross_thread_reduction(NestContext& ctx, size_t pos, const Expr& spatial_guard) {
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

}  // namespace kiln::kernel::nest
