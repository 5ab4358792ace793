// The lowering script: each root stage of a scheduled definition through the named passes in
// order, the loop IR verified after every one and printed on request (`--dump passes`).
#include "kernel/lower/lower.h"

#include <algorithm>
#include <map>

#include "kernel/compute/dequant_expr.h"
#include "kernel/ir/simplify.h"
#include "kernel/ir/verify.h"
#include "kernel/lower/clip_loops.h"
#include "kernel/lower/dot_chain_steps.h"
#include "kernel/lower/gpu_ids.h"
#include "kernel/lower/gpu_launch.h"
#include "kernel/lower/loop_nest.h"
#include "kernel/lower/vectorize.h"

namespace kiln::kernel {
namespace {

ir::Expr product(const std::vector<ir::Expr>& extents) {
  ir::Expr p = ir::Expr(int64_t{1});
  for (const ir::Expr& e : extents) p = p * e;
  return p;
}

const TensorDecl* find_output(const ComputeDef& def, const std::string& name) {
  for (const TensorDecl& t : def.outputs) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// The kernel's signature: the inputs and other root stages its nest reads, then its result.
ir::Kernel kernel_for(const ComputeDef& def, const Stage& stage, const std::vector<const Stage*>& roots,
                      const LoopNest& nest) {
  ir::Kernel kernel;
  kernel.name = roots.size() == 1 ? def.name : def.name + "_" + stage.name;
  for (const TensorDecl& input : def.inputs) {
    if (nest.buffers_read.count(input.name)) kernel.buffers.push_back({input.name, storage_type(input.dtype), false});
  }
  for (const Stage* other : roots) {
    if (other != &stage && nest.buffers_read.count(other->name)) kernel.buffers.push_back({other->name, other->type, false});
  }
  const TensorDecl* output = find_output(def, stage.name);
  kernel.buffers.push_back({stage.name, output ? storage_type(output->dtype) : stage.type, true});
  kernel.size_params = def.size_params;
  kernel.body = nest.body;
  return kernel;
}

}  // namespace

const std::vector<std::string>& lowering_pass_names() {
  static const std::vector<std::string> names = {"loop_nest", "clip_loops", "simplify", "vectorize", "simplify_vectors", "dot_chain_steps", "gpu_launch", "gpu_ids"};
  return names;
}

LoweredOp lower(const Schedule& schedule, const LowerOptions& options) {
  const ComputeDef& def = schedule.def();
  const std::map<std::string, LocalStorage> storage = plan_local_storage(schedule);
  LoweredOp op;
  op.name = def.name;
  std::vector<const Stage*> roots;
  for (const Stage& s : def.stages) {
    if (schedule.of(s.name).placement == Placement::Root) roots.push_back(&s);
  }
  // Sizes are extents of tensors: never negative (lets index arithmetic split quotients).
  ir::VarBounds sizes;
  for (const std::string& size : def.size_params) sizes[size] = ir::Interval{int64_t{0}, std::nullopt};
  for (const Stage* stage : roots) {
    ir::Kernel kernel;
    const auto after = [&](const std::string& pass) {
      ir::verify(kernel, pass);
      if (options.after_pass) options.after_pass(pass, kernel);
    };
    kernel = kernel_for(def, *stage, roots, build_loop_nest(schedule, *stage, storage, options.shared_memory_bytes));
    after("loop_nest");
    if (stage->predicate.defined()) {
      kernel.body = clip_loops(kernel.body, stage->predicate);
      after("clip_loops");
    }
    kernel.body = ir::simplify(kernel.body, sizes);
    after("simplify");
    if (options.vectorize) {
      kernel.body = ir::vectorize_loops(kernel.body);
      after("vectorize");
      kernel.body = ir::simplify(kernel.body, sizes);
      after("simplify_vectors");
    }
    if (!options.gpu) {
      const ir::Stmt stepped = step_dot_chains(kernel.body);
      if (!stepped.same_as(kernel.body)) {
        kernel.body = stepped;
        after("dot_chain_steps");
      }
    }
    if (options.gpu) {
      map_gpu_launch(kernel, options.shared_memory_bytes);
      after("gpu_launch");
      if (options.map_gpu_ids) {
        map_gpu_ids(kernel);
        after("gpu_ids");
      }
    }
    op.kernels.push_back(std::move(kernel));
    if (!find_output(def, stage->name)) op.scratch.push_back({stage->name, stage->type, product(stage->extents)});
  }
  return op;
}

}  // namespace kiln::kernel
