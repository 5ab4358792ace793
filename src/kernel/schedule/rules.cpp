#include "kernel/schedule/rules.h"

#include <algorithm>
#include <optional>

#include "base/error.h"
#include "kernel/ir/visitor.h"

namespace kiln::kernel {
namespace {

using ir::Expr;

bool is_output(const ComputeDef& def, const std::string& name) {
  return std::any_of(def.outputs.begin(), def.outputs.end(), [&](const TensorDecl& t) { return t.name == name; });
}

// Every Access of `tensor` in `e`.
std::vector<const ir::Access*> accesses_of(const Expr& e, const std::string& tensor) {
  class Find : public ir::IRMutator {
   public:
    Find(const std::string& t, std::vector<const ir::Access*>& o) : t_(t), out_(o) {}
   protected:
    Expr visit(const ir::Access* op, const Expr& e) override {
      if (op->tensor == t_) out_.push_back(op);
      return ir::IRMutator::visit(op, e);
    }
   private:
    const std::string& t_;
    std::vector<const ir::Access*>& out_;
  };
  std::vector<const ir::Access*> out;
  Find(tensor, out).mutate(e);
  return out;
}

std::vector<const ir::Access*> accesses_of(const Expr& e, const std::string& tensor);

// Whether a reader's access leaves one of the reader's own axes out of the indices: inlined,
// the producer would be computed again along that axis.
bool repeats_along_an_axis(const Stage& reader, const ir::Access* access) {
  for (const std::string& axis : reader.axes) {
    bool used = false;
    for (const Expr& index : access->indices) {
      const ir::Var* v = index.as<ir::Var>();
      used = used || (v != nullptr && v->name == axis);
    }
    if (!used) return true;
  }
  return false;
}

// Element-wise temporaries are inlined into their readers, unless a reader would compute each
// element again for every value of one of its axes (attention's probabilities, read once per
// output column): those get their own buffer.
bool is_inlined(const ComputeDef& def, const Stage& s) {
  if (is_output(def, s.name) || s.reduce != ReduceKind::None) return false;
  for (const Stage& reader : def.stages) {
    for (const ir::Access* a : accesses_of(reader.body, s.name)) {
      if (repeats_along_an_axis(reader, a)) return false;
    }
  }
  return true;
}

// A stage's body with every inlined stage it reads replaced by that stage's body, so placement
// sees the reads that will really happen.
Expr body_after_inlining(const ComputeDef& def, const Stage& stage) {
  class Inline : public ir::IRMutator {
   public:
    explicit Inline(const ComputeDef& d) : def_(d) {}
   protected:
    Expr visit(const ir::Access* op, const Expr& e) override {
      const Stage* s = find_stage(def_, op->tensor);
      if (s == nullptr || !is_inlined(def_, *s)) return ir::IRMutator::visit(op, e);
      std::map<std::string, Expr> axes;
      for (size_t d = 0; d < s->axes.size(); ++d) axes[s->axes[d]] = mutate(op->indices[d]);
      return mutate(ir::substitute(s->body, axes));
    }
   private:
    const ComputeDef& def_;
  };
  return Inline(def).mutate(stage.body);
}

// Whether every read of `producer` in `reader` indexes it by exactly the reader's first axes.
bool reads_by_leading_axes(const ComputeDef& def, const Stage& reader, const Stage& producer) {
  if (producer.axes.size() > reader.axes.size()) return false;
  for (const ir::Access* a : accesses_of(body_after_inlining(def, reader), producer.name)) {
    for (size_t d = 0; d < a->indices.size(); ++d) {
      const ir::Var* v = a->indices[d].as<ir::Var>();
      if (v == nullptr || v->name != reader.axes[d]) return false;
    }
  }
  return true;
}

// The consumer that can compute `producer` per point of its own leading axes: the last stage
// reading it (so every other reader sits inside that consumer too), provided it and every
// other reader index the producer by exactly their own first axes (a reader that reduces over
// the producer needs all of it first).
std::optional<std::string> row_consumer(const ComputeDef& def, const Stage& producer) {
  std::optional<std::string> consumer;
  for (auto s = def.stages.rbegin(); s != def.stages.rend(); ++s) {
    if (&*s == &producer || is_inlined(def, *s)) continue;
    if (accesses_of(body_after_inlining(def, *s), producer.name).empty()) continue;
    if (!reads_by_leading_axes(def, *s, producer)) return std::nullopt;
    if (!consumer) consumer = s->name;
  }
  return consumer;
}

struct Plan {
  std::map<std::string, std::string> computed_at;  // producer -> consumer
  std::map<std::string, size_t> bound_axes;        // consumer -> axes its producers need fixed
};

Plan place_stages(const ComputeDef& def, Schedule& schedule) {
  Plan plan;
  for (const Stage& s : def.stages) {
    if (is_output(def, s.name)) continue;
    if (is_inlined(def, s)) {
      schedule.stage(s.name).compute_inline();
      continue;
    }
    const std::optional<std::string> consumer = row_consumer(def, s);
    if (consumer && !s.axes.empty()) {
      plan.computed_at[s.name] = *consumer;
      size_t& bound = plan.bound_axes[*consumer];
      bound = std::max(bound, s.axes.size());
    }
  }
  // Producers of the same consumer are all computed at its innermost bound axis.
  for (const auto& [producer, consumer] : plan.computed_at) {
    const Stage* c = find_stage(def, consumer);
    schedule.stage(producer).compute_at(consumer, c->axes[plan.bound_axes.at(consumer) - 1]);
  }
  return plan;
}

// The number a stage's single reduction extent is a multiple of, as a quantized row is of its
// block: declared for a size, or for a constant extent the largest block of a quantized input
// that divides it; else 0.
int64_t reduce_multiple(const ComputeDef& def, const Stage& s) {
  if (s.reduce_extents.size() != 1) return 0;
  if (const int64_t* extent = ir::as_const_int(s.reduce_extents[0])) {
    int64_t block = 0;
    for (const TensorDecl& t : def.inputs) {
      const int64_t b = dtype_info(t.dtype).block_size;
      if (is_quantized(t.dtype) && *extent % b == 0) block = std::max(block, b);
    }
    return block;
  }
  const ir::Var* v = s.reduce_extents[0].as<ir::Var>();
  auto it = v ? def.size_multiples.find(v->name) : def.size_multiples.end();
  return it == def.size_multiples.end() ? 0 : it->second;
}

// Whether a floating-point input is read with `axis` as its last (contiguous) index, after
// inlining. Integer inputs are indices (a paged cache's slots): they say nothing about how the
// data is laid out.
bool read_contiguously_along(const ComputeDef& def, const Stage& s, const std::string& axis) {
  for (const TensorDecl& input : def.inputs) {
    if (!value_type(input.dtype).is_float()) continue;
    for (const ir::Access* a : accesses_of(body_after_inlining(def, s), input.name)) {
      const ir::Var* v = a->indices.empty() ? nullptr : a->indices.back().as<ir::Var>();
      if (v != nullptr && v->name == axis) return true;
    }
  }
  return false;
}

// What the CPU rules need to know about a stage besides itself.
struct CpuStageFacts {
  size_t bound = 0;              // axes fixed by producers computed inside it
  int64_t block = 0;             // the reduction extent is a multiple of this (quantized rows)
  bool spatial_contiguous = false;  // an input is contiguous along the innermost spatial axis
  int64_t row_interleave = 1;       // an input's rows are interleaved by this many
};

// The loop a stage's first `count` axes are fused into: "a_b" for a and b.
std::string leading_axes_loop(const Stage& s, size_t count) {
  std::string name = s.axes[0];
  for (size_t i = 1; i < count; ++i) name += "_" + s.axes[i];
  return name;
}

// A contraction out(i, j) over weight rows j, its reduction loops `reduce_loops` (outermost
// first, after i and j): target.row_tile rows of x as a tile inside them, each decoded weight
// block shared by the tile; and weight rows in chunks of target.weight_row_chunk for the
// threads, each chunk running over every row tile of x, so a tile of x is read once per chunk
// (from cache) rather than once per weight row, which for a long prompt streamed all of x
// from memory for every weight row.
void tile_rows_and_chunk_weight_rows(StageRef ref, const std::string& i, const std::string& j,
                                     std::vector<std::string> reduce_loops, const Target& target) {
  ref.split(i, i + "o", i + "i", Expr(int64_t{target.row_tile}), TailStrategy::SeparateLoop).unroll(i + "i");
  reduce_loops.push_back(i + "i");
  ref.reorder(reduce_loops);
  ref.split(j, j + "o", j + "i", Expr(int64_t{target.weight_row_chunk}), TailStrategy::SeparateLoop)
      .parallel(j + "o")
      .reorder({i + "o", j + "i"});
}

// CPU, a contraction out(i, j) over groups, then two constant extents within a group (the
// 8-bit activation path: sum over b, h, q of packed-byte dot products): both vectorized as
// one loop where the target's i32 lanes hold them, else the innermost vectorized and the
// middle unrolled, each point with accumulators of its own; weight rows in chunks,
// target.row_tile rows of x sharing each decoded group.
void schedule_grouped_contraction(const Stage& s, StageRef ref, const Target& target) {
  const std::string &i = s.axes[0], &j = s.axes[1], &b = s.reduce_axes[0];
  const std::string &h = s.reduce_axes[1], &q = s.reduce_axes[2];
  const int64_t middle = *ir::as_const_int(s.reduce_extents[1]), inner = *ir::as_const_int(s.reduce_extents[2]);
  const int64_t lanes = target.vector_lanes(DType::i32);
  ref.reorder({j, i});
  if (middle * inner <= lanes) {
    // Both in one vector (AVX2: a group's 8 words): a lane per point, each its own accumulator.
    ref.fuse(h, q, h + q).vectorize(h + q).rfactor(h + q);
  } else if (inner <= lanes) {
    ref.vectorize(q).unroll(h).rfactor(h);
  } else {
    ref.split(q, q + "o", q + "v", Expr(lanes), TailStrategy::SeparateLoop).vectorize(q + "v").unroll(h).rfactor(h);
  }
  tile_rows_and_chunk_weight_rows(ref, i, j, {b}, target);
}

// CPU, a contraction over a weight whose rows are interleaved by `lanes` (base/row_interleave.h;
// the 8-bit path's out(i, j) = sum over groups b, and for q6_K halves h, of a chain of
// dot products over the group's words): a vector over an interleaved group of weight rows,
// each unit of the group's bytes one load; target.row_tile rows of x, whose words are
// broadcast, sharing each loaded word; the groups of weight rows in chunks of about
// target.weight_row_chunk rows for the threads, each chunk running over every row tile of x.
void schedule_interleaved_contraction(const Stage& s, StageRef ref, int64_t lanes, const Target& target) {
  const std::string &i = s.axes[0], &j = s.axes[1];
  const int64_t chunk = std::max<int64_t>(1, target.weight_row_chunk / lanes);
  ref.split(j, j + "g", j + "v", Expr(lanes), TailStrategy::SeparateLoop)
      .vectorize(j + "v")
      .split(j + "g", j + "o", j + "c", Expr(chunk), TailStrategy::SeparateLoop)
      .parallel(j + "o")
      .split(i, i + "o", i + "i", Expr(int64_t{target.row_tile}), TailStrategy::SeparateLoop)
      .unroll(i + "i");
  std::vector<std::string> order = {j + "o", i + "o", j + "c"};
  for (size_t r = 0; r < s.reduce_axes.size(); ++r) {
    if (r > 0) ref.unroll(s.reduce_axes[r]);  // a constant extent within a group (q6_K's halves)
    order.push_back(s.reduce_axes[r]);
  }
  order.push_back(i + "i");
  order.push_back(j + "v");
  ref.reorder(order);
}

// CPU, a stage with its own loops: the outermost spatial axis in parallel (for a contraction,
// the axis that walks the weight rows), the innermost axis vectorized in full tiles.
//  - A reduction over a block-quantized input walks it a block at a time, the vector tiles of
//    a block unrolled: each block's scales are decoded once, nibble shifts and byte offsets
//    become constants; and target.row_tile rows share each decoded block.
//  - A contraction whose innermost spatial axis is contiguous in an input (attention's
//    p(a, b, c) * v(c, .., e)) is vectorized along that axis, a tile of columns inside the
//    reduction: contiguous loads instead of gathers along the reduction.
void schedule_cpu_stage(const Stage& s, StageRef ref, const CpuStageFacts& facts, const Target& target) {
  // `tile` (target.row_tile unless given) points of the first axis as a tile inside the
  // reduction loops `reduce_outer` (outermost first), right around `innermost`:
  // [.., first_o, middle axes.., reduction.., first_i, innermost].
  const auto tile_first_axis = [&](const std::vector<std::string>& reduce_outer, int64_t tile = 0) {
    const std::string& a = s.axes[0];
    std::vector<std::string> inner(s.axes.begin() + 1, s.axes.end() - 1);
    inner.insert(inner.end(), reduce_outer.begin(), reduce_outer.end());
    inner.push_back(a + "i");
    ref.split(a, a + "o", a + "i", Expr(tile > 0 ? tile : int64_t{target.row_tile}), TailStrategy::SeparateLoop)
        .unroll(a + "i")
        .reorder(inner);
  };
  const int64_t n_lanes = target.vector_lanes(DType::f32);
  const Expr lanes = Expr(n_lanes);
  const bool contraction = s.reduce != ReduceKind::None && s.axes.size() >= 2 && facts.bound == 0;
  const bool single_reduce = s.reduce != ReduceKind::None && s.reduce_axes.size() == 1;
  if (contraction && single_reduce && facts.spatial_contiguous && facts.block == 0) {
    // The register tile inside the reduction: a run of up to 8 vectors along e (a whole head's
    // row where it is known and fits: 64 f16 values on AVX2, 128 bytes) by as many points of
    // the first axis as half the registers then hold (1 on AVX2, 4 on AVX-512 for 64-wide
    // heads); each element read along the reduction serves the whole tile. In parallel: the
    // middle axes (attention's heads), each task running the runs in turn, so that it reads
    // whole lines of each value row and its head's rows stay in cache between runs.
    // Measured at a 2048-token depth (SmolLM2 Q4_0, AVX2): parallel over 8-element runs read
    // each line once per task (decode 46 tokens/s); over heads with runs of 2, 4 and 8
    // vectors, decode's weighted sum took 6.9, 6.5 and 4.9 ms per token, the 513-token
    // prefill's 18, 19 and 25 ms per layer: decode, the step users wait on, won.
    const std::string& e = s.axes.back();
    const std::string& c = s.reduce_axes[0];
    const int64_t* e_extent = ir::as_const_int(s.extents.back());
    const int64_t runs = e_extent != nullptr ? std::clamp<int64_t>(*e_extent / n_lanes, 1, 8) : 4;
    const int64_t tile = std::max<int64_t>(1, target.vector_registers / 2 / runs);
    ref.split(e, e + "p", e + "i", Expr(runs * n_lanes), TailStrategy::SeparateLoop)
        .split(e + "i", e + "u", e + "v", lanes, TailStrategy::SeparateLoop);
    std::vector<std::string> order;
    for (size_t i = 1; i + 1 < s.axes.size(); ++i) order.push_back(s.axes[i]);
    order.push_back(e + "p");
    order.push_back(s.axes[0]);
    order.push_back(c);
    order.push_back(e + "u");
    order.push_back(e + "v");
    ref.reorder(order).vectorize(e + "v").unroll(e + "u");
    tile_first_axis({c, e + "u"}, tile);
    if (s.axes.size() == 2) {
      ref.parallel(e + "p");  // no middle axes: the runs
      return;
    }
    std::string parallel = s.axes[s.axes.size() - 2];
    for (size_t i = s.axes.size() - 2; i-- > 1;) {
      const std::string fused = s.axes[i] + "_" + parallel;
      ref.fuse(s.axes[i], parallel, fused);
      parallel = fused;
    }
    ref.parallel(parallel);
    return;
  }
  if (contraction && s.axes.size() == 2 && facts.row_interleave > 1) {
    schedule_interleaved_contraction(s, ref, facts.row_interleave, target);
    return;
  }
  if (contraction && s.axes.size() == 2 && s.reduce_axes.size() == 3 && ir::as_const_int(s.reduce_extents[1]) &&
      ir::as_const_int(s.reduce_extents[2])) {
    schedule_grouped_contraction(s, ref, target);
    return;
  }
  const bool quantized_blocks = contraction && single_reduce && facts.block > n_lanes && facts.block % n_lanes == 0;
  // A matmul over weight rows (a float weight too): parallel over chunks of them instead.
  const bool weight_row_chunks = contraction && single_reduce && s.axes.size() == 2;
  // Attention's scores(a, b, c): parallel over chunks of their keys c (below).
  const bool key_chunks = contraction && single_reduce && !quantized_blocks && s.axes.size() >= 3;
  if (contraction) {
    std::vector<std::string> order = {s.axes.back()};
    for (size_t i = 0; i + 1 < s.axes.size(); ++i) order.push_back(s.axes[i]);
    ref.reorder(order);
    if (!weight_row_chunks && !key_chunks) ref.parallel(s.axes.back());
  } else if (facts.bound >= 2) {
    // Producers computed per point of several axes (attention's softmax statistics, per query
    // and head): the axes fused into one parallel loop, so that a decode step's single query
    // spreads its heads over the threads.
    for (size_t i = 1; i < facts.bound; ++i) ref.fuse(leading_axes_loop(s, i), s.axes[i], leading_axes_loop(s, i + 1));
    ref.parallel(leading_axes_loop(s, facts.bound));
  } else if (!s.axes.empty() && (s.axes.size() > 1 || s.reduce != ReduceKind::None || facts.bound > 0)) {
    ref.parallel(s.axes[0]);
  }
  if (single_reduce) {
    const std::string& k = s.reduce_axes[0];
    // Blocks divide the extent (no remainder loop) and lanes divide blocks.
    if (quantized_blocks) {
      // The unrolled vector tiles keep an accumulator each, for every row of a tile: as many as
      // half the vector registers hold (the rest decode weights and load x). A larger block
      // (the K formats' 256) is walked in sub-blocks of that many tiles, a serial loop;
      // unrolled whole, its 32 accumulators for each of 4 rows spilled to the stack.
      const int64_t rows = weight_row_chunks ? target.row_tile : 1;
      int64_t copies = facts.block / n_lanes;
      while (copies > 1 && copies * rows > target.vector_registers / 2) copies /= 2;
      std::vector<std::string> reduce_loops = {k + "b"};
      if (copies == facts.block / n_lanes) {
        ref.split(k, k + "b", k + "i", Expr(facts.block), TailStrategy::SeparateLoop)
            .split(k + "i", k + "u", k + "v", lanes, TailStrategy::SeparateLoop);
      } else {
        ref.split(k, k + "b", k + "i", Expr(facts.block), TailStrategy::SeparateLoop)
            .split(k + "i", k + "s", k + "j", Expr(copies * n_lanes), TailStrategy::SeparateLoop)
            .split(k + "j", k + "u", k + "v", lanes, TailStrategy::SeparateLoop);
        reduce_loops.push_back(k + "s");
      }
      ref.unroll(k + "u").vectorize(k + "v").rfactor(k + "u");
      if (weight_row_chunks) tile_rows_and_chunk_weight_rows(ref, s.axes[0], s.axes[1], reduce_loops, target);
    } else if (contraction) {
      // A contraction computes target.row_tile points of its first axis together, each element of the
      // other operand read once for all of them (attention's scores: 4 queries per key), and
      // walks the reduction in unrolled vector tiles with accumulators of their own, as many as
      // half the registers hold: 4 rows of one chain each left FMAs waiting on their latency.
      // (Where the tiles divide the extent: a remainder of the tiles is not lowered yet.)
      // Over weight rows, a tile of them too (weight_rows), inside the reduction: each element
      // of x read once for all of them; the independent accumulators are then the tile's.
      int64_t weight_rows = weight_row_chunks ? std::max<int64_t>(1, target.vector_registers / 2 / target.row_tile) : 1;
      if (target.weight_row_chunk % weight_rows != 0) weight_rows = 1;
      int64_t copies = std::clamp<int64_t>(target.vector_registers / 2 / target.row_tile / weight_rows, 1, 4);
      const int64_t* extent = ir::as_const_int(s.reduce_extents[0]);
      if (extent == nullptr || *extent % (copies * n_lanes) != 0) copies = 1;
      if (copies > 1) {
        ref.split(k, k + "o", k + "i", Expr(copies * n_lanes), TailStrategy::SeparateLoop)
            .split(k + "i", k + "u", k + "v", lanes, TailStrategy::SeparateLoop)
            .unroll(k + "u")
            .vectorize(k + "v")
            .rfactor(k + "u");
      } else {
        ref.split(k, k + "o", k + "v", lanes, TailStrategy::SeparateLoop).vectorize(k + "v").rfactor(k + "v");
      }
      if (weight_row_chunks) {
        const std::string &i = s.axes[0], &j = s.axes[1];
        tile_rows_and_chunk_weight_rows(ref, i, j, {k + "o"}, target);
        // The tile's weight rows lie a chunk / weight_rows apart, not side by side: a decode
        // step (one row of x, memory-bound) read adjacent rows' bytes interleaved 30% slower
        // (F16 SmolLM2, AVX2 EPYC), apart as fast as one row at a time.
        const int64_t stride = target.weight_row_chunk / weight_rows;
        if (weight_rows > 1) {
          ref.split(j + "i", j + "u", j + "t", Expr(stride), TailStrategy::SeparateLoop)
              .unroll(j + "u")
              .reorder({j + "t", k + "o", j + "u", i + "i"});
        }
      } else if (key_chunks) {
        // Attention's scores(a, b, c): keys c in chunks for the threads, each chunk running
        // over every tile of queries, and each key over every head: a tile's queries (4 of
        // them, all heads: 9 KB for SmolLM2) are read once per chunk of keys, from L1, instead
        // of once per key, which for a long prompt streamed all the queries from L3 for every
        // key; a key's heads stay side by side, as decode (one query) reads them.
        const std::string& a = s.axes[0];
        const std::string& c = s.axes.back();
        ref.split(c, c + "o", c + "i", Expr(target.weight_row_chunk), TailStrategy::SeparateLoop).parallel(c + "o");
        tile_first_axis({c + "i", k + "o"});
        std::vector<std::string> order = {a + "o", c + "i"};
        order.insert(order.end(), s.axes.begin() + 1, s.axes.end() - 1);
        ref.reorder(order);
      } else {
        tile_first_axis({k + "o"});
      }
    } else {
      ref.split(k, k + "o", k + "v", lanes, TailStrategy::SeparateLoop).vectorize(k + "v").rfactor(k + "v");
    }
  } else if (s.reduce == ReduceKind::None && !s.axes.empty()) {
    const std::string& j = s.axes.back();
    if (s.axes.size() == 1 && facts.bound == 0) {
      ref.split(j, j + "o", j + "v", lanes, TailStrategy::SeparateLoop).parallel(j + "o").vectorize(j + "v");
    } else if (s.axes.size() > 1 || facts.bound == 0) {
      ref.split(j, j + "o", j + "v", lanes, TailStrategy::SeparateLoop).vectorize(j + "v");
    }
  }
}

// The grid has three dimensions: the leading axes of `axes` (adjacent loops, outermost first)
// beyond that are fused into one loop. Returns the loops left, at most three.
std::vector<std::string> fit_grid(StageRef ref, std::vector<std::string> axes) {
  while (axes.size() > 3) {
    const std::string fused = axes[0] + "_" + axes[1];
    ref.fuse(axes[0], axes[1], fused);
    axes.erase(axes.begin());
    axes[0] = fused;
  }
  return axes;
}

// GPU: bound and leading axes over the grid; the rest over the threads of a work-group,
// or, for a reduction with nothing computed inside it, the reduction across the threads.
void schedule_gpu_stage(const Stage& s, StageRef ref, size_t bound, const Target& target) {
  const Expr threads = Expr(int64_t{target.workgroup_threads});
  const bool cross_thread = s.reduce != ReduceKind::None && bound == 0;
  if (cross_thread) {
    // Every spatial axis on the grid (innermost as x), the reduction across a work-group.
    KILN_CHECK(s.reduce_axes.size() == 1, "stage '{}': GPU reduction over {} axes is not supported yet", s.name,
               s.reduce_axes.size());
    const std::vector<std::string> grid = fit_grid(ref, s.axes);
    for (size_t i = 0; i < grid.size(); ++i) ref.gpu_block(grid[i], static_cast<int>(grid.size() - 1 - i));
    const std::string& k = s.reduce_axes[0];
    ref.split(k, k + "o", k + "t", threads)
        .reorder({k + "t", k + "o"})
        .gpu_thread(k + "t")
        .rfactor(k + "t")
        .store_in(ir::MemoryScope::Shared);
    return;
  }
  // Axes fixed per work-group: the bound ones (compute_at producers need them), else all but
  // the innermost, which the threads stride over.
  const size_t on_grid = bound > 0 ? bound : (s.axes.empty() ? 0 : s.axes.size() - 1);
  // Producers computed at a bound axis need it as a loop of its own: those cannot be fused.
  KILN_CHECK(bound <= 3, "stage '{}': more than 3 bound grid axes", s.name);
  const std::vector<std::string> grid =
      fit_grid(ref, std::vector<std::string>(s.axes.begin(), s.axes.begin() + static_cast<std::ptrdiff_t>(on_grid)));
  for (size_t i = 0; i < grid.size(); ++i) ref.gpu_block(grid[i], static_cast<int>(grid.size() - 1 - i));
  std::vector<std::string> rest(s.axes.begin() + static_cast<std::ptrdiff_t>(on_grid), s.axes.end());
  if (rest.empty()) return;
  std::string inner = rest[0];
  for (size_t i = 1; i < rest.size(); ++i) {
    ref.fuse(inner, rest[i], inner + "_" + rest[i]);
    inner = inner + "_" + rest[i];
  }
  if (on_grid == 0) {
    // A single spatial loop: blocks of threads cover it.
    ref.split(inner, inner + "b", inner + "t", threads).gpu_block(inner + "b").gpu_thread(inner + "t");
  } else {
    ref.split(inner, inner + "o", inner + "t", threads).reorder({inner + "t", inner + "o"}).gpu_thread(inner + "t");
  }
}

// The input a GPU contraction out(i, j) = sum_r ... reads without j (matmul's x): the one
// every thread of a work-group over j reads at the same points. "" for none.
std::string input_shared_across_columns(const ComputeDef& def, const Stage& s) {
  if (s.axes.size() != 2 || s.reduce_axes.size() != 1 || s.reduce == ReduceKind::None) return "";
  // A contraction: another input is read along j and r (matmul's w). A row reduction such as
  // sum's out(i, 0) has no columns to spread over threads: it reduces across them instead.
  if (const int64_t* columns = ir::as_const_int(s.extents[1]); columns != nullptr && *columns == 1) return "";
  bool reads_along_columns = false;
  for (const TensorDecl& input : def.inputs) {
    for (const ir::Access* a : accesses_of(s.body, input.name)) {
      bool uses_j = false;
      for (const ir::Expr& index : a->indices) {
        const ir::Var* v = index.as<ir::Var>();
        uses_j = uses_j || (v != nullptr && v->name == s.axes[1]);
      }
      reads_along_columns = reads_along_columns || uses_j;
    }
  }
  if (!reads_along_columns) return "";
  for (const TensorDecl& input : def.inputs) {
    const std::vector<const ir::Access*> reads = accesses_of(s.body, input.name);
    if (reads.empty() || input.shape.size() != 2) continue;
    bool without_j = true;
    for (const ir::Access* a : reads) {
      const ir::Var* row = a->indices[0].as<ir::Var>();
      const ir::Var* col = a->indices[1].as<ir::Var>();
      without_j = without_j && row && col && row->name == s.axes[0] && col->name == s.reduce_axes[0];
    }
    if (without_j) return input.name;
  }
  return "";
}

// GPU GEMV/GEMM: a work-group per row i and target.workgroup_threads columns j, one thread per column,
// each summing over r itself; the row of x the threads all read is loaded a tile of r at a
// time into shared memory by the work-group together (cache_read), where each thread reads it.
void schedule_gpu_contraction(Schedule& schedule, const Stage& s, const std::string& shared_input,
                              const Target& target) {
  const Expr threads = Expr(int64_t{target.workgroup_threads});
  const std::string& i = s.axes[0];
  const std::string& j = s.axes[1];
  const std::string& r = s.reduce_axes[0];
  schedule.stage(s.name)
      .gpu_block(i, 1)
      .split(j, j + "o", j + "t", threads)
      .gpu_block(j + "o", 0)
      .gpu_thread(j + "t", 0)
      .split(r, r + "o", r + "i", threads);
  schedule.cache_read(shared_input, s.name, shared_input + "_shared")
      .compute_at(s.name, r + "o")
      .store_in(ir::MemoryScope::Shared);
}

void schedule_gpu_producer(const Stage& s, StageRef ref, const Target& target) {
  KILN_CHECK(s.reduce_axes.size() == 1, "stage '{}': GPU row reduction over {} axes", s.name, s.reduce_axes.size());
  const std::string& k = s.reduce_axes[0];
  ref.split(k, k + "o", k + "t", Expr(int64_t{target.workgroup_threads}))
      .reorder({k + "t", k + "o"})
      .gpu_thread(k + "t")
      .rfactor(k + "t")
      .store_in(ir::MemoryScope::Shared);
}

void schedule_cpu_producer(const Stage& s, StageRef ref, const Target& target) {
  if (s.reduce_axes.size() != 1) return;
  const std::string& k = s.reduce_axes[0];
  ref.split(k, k + "o", k + "v", Expr(int64_t{target.vector_lanes(DType::f32)}), TailStrategy::SeparateLoop)
      .vectorize(k + "v")
      .rfactor(k + "v");
}

}  // namespace

Schedule default_schedule(const ComputeDef& def, const Target& target) {
  Schedule schedule(def);
  const Plan plan = place_stages(def, schedule);
  for (const Stage& s : def.stages) {
    const StageSchedule& placed = schedule.of(s.name);
    if (placed.placement == Placement::Inline) continue;
    if (placed.placement == Placement::ComputeAt) {
      if (target.is_gpu()) schedule_gpu_producer(s, schedule.stage(s.name), target);
      else schedule_cpu_producer(s, schedule.stage(s.name), target);
      continue;
    }
    auto bound = plan.bound_axes.find(s.name);
    const size_t n_bound = bound == plan.bound_axes.end() ? 0 : bound->second;
    if (target.is_gpu()) {
      const std::string shared_input = n_bound == 0 ? input_shared_across_columns(def, s) : "";
      if (!shared_input.empty()) schedule_gpu_contraction(schedule, s, shared_input, target);
      else schedule_gpu_stage(s, schedule.stage(s.name), n_bound, target);
    } else {
      int64_t row_interleave = 1;
      for (const TensorDecl& t : def.inputs) row_interleave = std::max(row_interleave, t.row_interleave);
      const CpuStageFacts facts{n_bound, reduce_multiple(def, s),
                                !s.axes.empty() && read_contiguously_along(def, s, s.axes.back()), row_interleave};
      schedule_cpu_stage(s, schedule.stage(s.name), facts, target);
      if (n_bound >= 2 && s.reduce == ReduceKind::None) {
        // Its bound axes became one loop (schedule_cpu_stage): the producers are computed there.
        for (const auto& [producer, consumer] : plan.computed_at) {
          if (consumer == s.name) schedule.stage(producer).compute_at(s.name, leading_axes_loop(s, n_bound));
        }
      }
    }
  }
  return schedule;
}

}  // namespace kiln::kernel
