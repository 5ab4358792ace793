#include "profile_report.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

namespace kiln::cli {

void print_profile(const compiler::GraphProgram& program, const std::string& label) {
  const auto times = program.profile();
  double total = 0;
  for (const auto& t : times) total += t.seconds;
  const runtime::Executable& ex = const_cast<compiler::GraphProgram&>(program).executable();
  const double host = ex.host_seconds();
  const int64_t steps = std::max<int64_t>(ex.runs(), 1);
  fmt::print(stderr, "kiln: profile{}, {:.3f} s in kernels; host work between them {:.3f} ms per step ({:.1f}% of {} steps)\n",
             label.empty() ? "" : " of " + label, total, 1e3 * host / static_cast<double>(steps),
             total + host > 0 ? 100 * host / (total + host) : 0.0, ex.runs());
  fmt::print(stderr, "  {:>8} {:>6} {:>9}  kernel\n", "ms", "%", "launches");
  for (const auto& t : times) {
    fmt::print(stderr, "  {:8.1f} {:6.1f} {:9}  {}\n", t.seconds * 1e3, total > 0 ? 100 * t.seconds / total : 0.0,
               t.launches, t.name);
  }
}

}  // namespace kiln::cli
