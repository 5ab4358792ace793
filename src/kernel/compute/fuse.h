// Fusion at the level of compute definitions: an element-wise consumer folded into the
// producer's output stage as its epilogue (DESIGN.md section 4: "elementwise consumers fold into
// a contraction's or reduction's epilogue"). matmul then add becomes
//   out(i, j) = sum[r < k] x(i, r) * w(j, r)
//     then value -> value + e1_a(i, j)
// one kernel, the sum never stored. Graph-level grouping is passes/fuse.h.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "kernel/compute/compute_def.h"

namespace kiln::kernel {

struct FusedDef {
  ComputeDef def;
  // Names the consumer's other inputs and its sizes that are not output dimensions take in
  // the fused definition.
  std::map<std::string, std::string> tensor_names;
  std::map<std::string, std::string> size_names;
};

// `consumer` (one element-wise stage writing one output of the producer's rank) reads the
// producer's output as its input `consumer_input`, at exactly its own point. Returns the
// producer with the consumer as the epilogue of its output stage (after any epilogue it
// already has), the consumer's other inputs and sizes renamed with `prefix`; nullopt when the
// two do not fit that pattern.
std::optional<FusedDef> fuse_epilogue(const ComputeDef& producer, const ComputeDef& consumer,
                                      const std::string& consumer_input, const std::string& prefix);

}  // namespace kiln::kernel
