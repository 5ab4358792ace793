// Lowering's first pass: a root stage's loop nest, written from its schedule.
//
// The loops are the schedule's (split, fused, reordered, bound to threads), with `let`s that
// give back each replaced variable (k = ko * 16 + kv) where its parts are known, guards where a
// split's factor may not divide, and a separate remainder loop where the split asks for one.
// Reductions get accumulators (per lane or per tile point with rfactor and register tiles,
// or partials per thread combined by a tree of halving steps in shared memory); stages computed
// at a loop are produced there in their storage (registers, or a region copied into shared
// memory by the work-group between barriers, cache_read); inline stages are substituted and
// tensor accesses become loads through each dtype's decoding.
#pragma once

#include <map>
#include <set>
#include <string>

#include "kernel/ir/stmt.h"
#include "kernel/schedule/schedule.h"

namespace kiln::kernel {

// Where a compute_at stage keeps its value, and how big that storage is.
struct LocalStorage {
  std::string name;
  int64_t elements = 1;
  ir::MemoryScope scope = ir::MemoryScope::Register;
};

// Where each compute_at stage of the schedule lives.
std::map<std::string, LocalStorage> plan_local_storage(const Schedule& schedule);

struct LoopNest {
  ir::Stmt body;
  std::set<std::string> buffers_read;  // inputs and other root stages the nest loads
};

// The nest of one root stage. `shared_memory_bytes` bounds each region copy (the target's).
LoopNest build_loop_nest(const Schedule& schedule, const Stage& root, const std::map<std::string, LocalStorage>& storage,
                         int64_t shared_memory_bytes);

}  // namespace kiln::kernel
