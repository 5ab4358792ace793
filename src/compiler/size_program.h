// A graph's symbolic size (graph/sym.h) as the runtime evaluates it (runtime/size_expr.h): a
// postfix program over symbol slots, `symbols[i]` being slot i. The polynomial's terms become
// products and sums, floor division, modulo, min and max stay what they are.
#pragma once

#include <string>
#include <vector>

#include "graph/sym.h"
#include "runtime/size_expr.h"

namespace kiln::compiler {

// InternalError if `e` names a symbol not in `symbols`.
runtime::SizeExpr size_program(const graph::SymExpr& e, const std::vector<std::string>& symbols);

}  // namespace kiln::compiler
