// Which names a statement refers to: what an outlined loop body must be handed.
#pragma once

#include <set>
#include <string>

#include "kernel/ir/stmt.h"

namespace kiln::codegen {

// Every name `stmt` reads: Vars, and buffers it loads from or stores to. Names it binds itself
// may be included too; a caller treats the result as a superset.
std::set<std::string> names_used_in(const ir::Stmt& stmt);

}  // namespace kiln::codegen
