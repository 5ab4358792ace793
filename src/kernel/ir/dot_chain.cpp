#include "kernel/ir/dot_chain.h"

#include <algorithm>

namespace kiln::ir {

DotChain unfold_dot_chain(const Call* outer) {
  DotChain chain{outer->op, Expr(), {outer}};
  Expr e = outer->args[0];
  while (const auto* call = e.as<Call>()) {
    if (call->op != chain.op) break;
    chain.terms.push_back(call);
    e = call->args[0];
  }
  std::reverse(chain.terms.begin(), chain.terms.end());
  chain.start = e;
  return chain;
}

int64_t byte_pair_bound(int a_max) { return 2 * std::min<int64_t>(a_max, 127) * 128; }

std::vector<int> i16_runs(const std::vector<int>& a_max) {
  constexpr int64_t kI16Max = 32767;
  std::vector<int> runs;
  int64_t run_bound = 0;
  for (const int term : a_max) {
    const int64_t bound = byte_pair_bound(term);
    if (!runs.empty() && run_bound + bound <= kI16Max) {
      ++runs.back();
      run_bound += bound;
    } else {
      runs.push_back(1);
      run_bound = bound;
    }
  }
  return runs;
}

}  // namespace kiln::ir
