#include "codegen/llvm/names_used.h"

namespace kiln::codegen {

namespace {

void collect_names(const ir::Expr& e, std::set<std::string>& names);

void collect_names(const ir::Stmt& s, std::set<std::string>& names) {
  if (!s.defined()) return;
  switch (s.kind()) {
    case ir::StmtKind::For: {
      const auto* op = s.as<ir::For>();
      collect_names(op->min, names);
      collect_names(op->extent, names);
      collect_names(op->body, names);
      return;
    }
    case ir::StmtKind::Store: {
      const auto* op = s.as<ir::Store>();
      names.insert(op->buffer);
      collect_names(op->index, names);
      collect_names(op->value, names);
      return;
    }
    case ir::StmtKind::LetStmt: {
      const auto* op = s.as<ir::LetStmt>();
      collect_names(op->value, names);
      collect_names(op->body, names);
      return;
    }
    case ir::StmtKind::IfThenElse: {
      const auto* op = s.as<ir::IfThenElse>();
      collect_names(op->condition, names);
      collect_names(op->then_case, names);
      collect_names(op->else_case, names);
      return;
    }
    case ir::StmtKind::Allocate: {
      const auto* op = s.as<ir::Allocate>();
      collect_names(op->size, names);
      collect_names(op->body, names);
      return;
    }
    case ir::StmtKind::Barrier: return;
    case ir::StmtKind::Block:
      for (const ir::Stmt& inner : s.as<ir::Block>()->stmts) collect_names(inner, names);
      return;
  }
}

void collect_names(const ir::Expr& e, std::set<std::string>& names) {
  if (!e.defined()) return;
  switch (e.kind()) {
    case ir::ExprKind::IntImm:
    case ir::ExprKind::FloatImm: return;
    case ir::ExprKind::Var: names.insert(e.as<ir::Var>()->name); return;
    case ir::ExprKind::Cast: collect_names(e.as<ir::Cast>()->value, names); return;
    case ir::ExprKind::Reinterpret: collect_names(e.as<ir::Reinterpret>()->value, names); return;
    case ir::ExprKind::Not: collect_names(e.as<ir::Not>()->value, names); return;
    case ir::ExprKind::Binary:
      collect_names(e.as<ir::Binary>()->a, names);
      collect_names(e.as<ir::Binary>()->b, names);
      return;
    case ir::ExprKind::Select: {
      const auto* op = e.as<ir::Select>();
      collect_names(op->condition, names);
      collect_names(op->true_value, names);
      collect_names(op->false_value, names);
      return;
    }
    case ir::ExprKind::Load:
      names.insert(e.as<ir::Load>()->buffer);
      collect_names(e.as<ir::Load>()->index, names);
      return;
    case ir::ExprKind::Ramp:
      collect_names(e.as<ir::Ramp>()->base, names);
      collect_names(e.as<ir::Ramp>()->stride, names);
      return;
    case ir::ExprKind::Broadcast: collect_names(e.as<ir::Broadcast>()->value, names); return;
    case ir::ExprKind::Call:
      for (const ir::Expr& arg : e.as<ir::Call>()->args) collect_names(arg, names);
      return;
    case ir::ExprKind::Access:
      names.insert(e.as<ir::Access>()->tensor);
      for (const ir::Expr& index : e.as<ir::Access>()->indices) collect_names(index, names);
      return;
  }
}

}  // namespace

std::set<std::string> names_used_in(const ir::Stmt& stmt) {
  std::set<std::string> names;
  collect_names(stmt, names);
  return names;
}

}  // namespace kiln::codegen
