// A kernel: loop IR plus the signature every back end compiles it to.
//
// Calling convention, the same for every target: buffers are passed in `buffers` order, then the
// symbolic sizes (i64) in `size_params` order. On the CPU the compiled entry point is
//   void name(void* const* buffers, const int64_t* sizes)
// On OpenCL each buffer is a __global pointer argument and each size a `long` argument.
#pragma once

#include <string>
#include <vector>

#include "kernel/ir/stmt.h"

namespace kiln::ir {

struct BufferParam {
  std::string name;
  Type element_type;  // u8 for block-quantized bytes
  bool is_output = false;
};

struct Kernel {
  std::string name;
  std::vector<BufferParam> buffers;
  std::vector<std::string> size_params;  // i64 symbols: n_tokens, kv_len, ...
  Stmt body;
  // GPU-style kernels: the work-group count and size along x, y, z as expressions of the size
  // parameters (from the GpuBlock/GpuThread loops). Empty for CPU kernels.
  std::vector<Expr> grid;
  std::vector<Expr> block;
};

}  // namespace kiln::ir
