// What the OpenCL back end hands the runtime besides the source: the kernel's signature and a
// LaunchShape that evaluates its grid and work-group sizes for given sizes.
#include <functional>
#include <map>
#include <set>
#include <string>

#include "base/error.h"
#include "codegen/opencl/opencl_codegen.h"
#include "codegen/signature.h"
#include "kernel/ir/evaluate.h"

namespace kiln::codegen {
namespace {

using namespace ir;

// Launch sizes are integer expressions of the size parameters alone.
void check_launch_dims(const Kernel& kernel) {
  KILN_CHECK(kernel.grid.size() <= 3 && kernel.block.size() <= 3, "kernel {} has more than 3 launch dimensions",
             kernel.name);
  const std::set<std::string> sizes(kernel.size_params.begin(), kernel.size_params.end());
  std::function<void(const Expr&)> check = [&](const Expr& e) {
    if (const Var* v = e.as<Var>()) {
      KILN_CHECK(sizes.count(v->name), "launch dimension of kernel {} uses {}, which is not a size parameter",
                 kernel.name, v->name);
    } else if (const Binary* b = e.as<Binary>()) {
      check(b->a);
      check(b->b);
    } else if (const Cast* c = e.as<Cast>()) {
      check(c->value);
    } else if (const Select* s = e.as<Select>()) {
      check(s->condition);
      check(s->true_value);
      check(s->false_value);
    } else if (const Not* n = e.as<Not>()) {
      check(n->value);
    } else {
      KILN_CHECK(e.as<IntImm>(), "launch dimension of kernel {} is not an integer expression of the sizes",
                 kernel.name);
    }
  };
  for (const Expr& e : kernel.grid) check(e);
  for (const Expr& e : kernel.block) check(e);
}

}  // namespace

CompiledKernel compile_opencl(const ir::Kernel& kernel) {
  check_launch_dims(kernel);
  CompiledKernel compiled;
  compiled.signature = signature_of(kernel);
  compiled.code = emit_opencl(kernel);
  compiled.launch_shape = [grid = kernel.grid, block = kernel.block, names = kernel.size_params](
                              const int64_t* sizes, std::array<int64_t, 3>& grid_out,
                              std::array<int64_t, 3>& block_out) {
    std::map<std::string, int64_t> values;
    for (size_t i = 0; i < names.size(); ++i) values[names[i]] = sizes[i];
    for (size_t d = 0; d < 3; ++d) {
      grid_out[d] = d < grid.size() ? ir::evaluate_int(grid[d], values) : 1;
      block_out[d] = d < block.size() ? ir::evaluate_int(block[d], values) : 1;
    }
  };
  return compiled;
}

}  // namespace kiln::codegen
