#include "kernel/ir/stmt.h"

#include "base/error.h"

namespace kiln::ir {

const char* for_kind_name(ForKind kind) {
  switch (kind) {
    case ForKind::Serial: return "for";
    case ForKind::Parallel: return "parallel";
    case ForKind::Vectorized: return "vectorized";
    case ForKind::Unrolled: return "unrolled";
    case ForKind::GpuBlock: return "gpu_block";
    case ForKind::GpuThread: return "gpu_thread";
  }
  return "?";
}

const char* memory_scope_name(MemoryScope scope) {
  switch (scope) {
    case MemoryScope::Register: return "register";
    case MemoryScope::Local: return "local";
    case MemoryScope::Shared: return "shared";
    case MemoryScope::Global: return "global";
  }
  return "?";
}

Stmt For::make(std::string var, Expr min, Expr extent, ForKind kind, Stmt body, int gpu_dim) {
  KILN_CHECK(min.defined() && extent.defined() && body.defined(), "For {} is missing a part", var);
  KILN_CHECK(min.type() == Type::index() && extent.type() == Type::index(),
             "For {} bounds must be i64", var);
  if (kind == ForKind::Vectorized || kind == ForKind::Unrolled) {
    KILN_CHECK(as_const_int(extent) != nullptr, "{} loop {} needs a constant extent",
               for_kind_name(kind), var);
  }
  KILN_CHECK(gpu_dim >= 0 && gpu_dim < 3, "gpu_dim {} of loop {}", gpu_dim, var);
  return Stmt(std::make_shared<const For>(std::move(var), std::move(min), std::move(extent), kind, gpu_dim, std::move(body)));
}

Stmt Store::make(std::string buffer, Expr index, Expr value) {
  KILN_CHECK(index.defined() && value.defined(), "Store to {} is missing a part", buffer);
  KILN_CHECK(index.type().is_integer() && index.type().lanes == value.type().lanes,
             "Store to {}: index {} for value {}", buffer, to_string(index.type()), to_string(value.type()));
  return Stmt(std::make_shared<const Store>(std::move(buffer), std::move(index), std::move(value)));
}

Stmt LetStmt::make(std::string name, Expr value, Stmt body) {
  KILN_CHECK(value.defined() && body.defined(), "LetStmt {} is missing a part", name);
  return Stmt(std::make_shared<const LetStmt>(std::move(name), std::move(value), std::move(body)));
}

Stmt IfThenElse::make(Expr condition, Stmt then_case, Stmt else_case) {
  KILN_CHECK(condition.defined() && condition.type() == Type::boolean() && then_case.defined(),
             "IfThenElse needs a scalar bool condition and a then case");
  return Stmt(std::make_shared<const IfThenElse>(std::move(condition), std::move(then_case), std::move(else_case)));
}

Stmt Allocate::make(std::string name, Type element_type, Expr size, MemoryScope scope, Stmt body) {
  KILN_CHECK(size.defined() && body.defined(), "Allocate {} is missing a part", name);
  if (scope != MemoryScope::Global) {
    KILN_CHECK(as_const_int(size) != nullptr, "{} allocation {} needs a constant size",
               memory_scope_name(scope), name);
  }
  return Stmt(std::make_shared<const Allocate>(std::move(name), element_type, std::move(size), scope, std::move(body)));
}

Stmt Barrier::make() { return Stmt(std::make_shared<const Barrier>()); }

Stmt Block::make(std::vector<Stmt> stmts) {
  std::vector<Stmt> flat;
  for (Stmt& s : stmts) {
    if (!s.defined()) continue;
    if (const Block* inner = s.as<Block>()) {
      flat.insert(flat.end(), inner->stmts.begin(), inner->stmts.end());
    } else {
      flat.push_back(std::move(s));
    }
  }
  if (flat.size() == 1) return flat[0];
  return Stmt(std::make_shared<const Block>(std::move(flat)));
}

}  // namespace kiln::ir
