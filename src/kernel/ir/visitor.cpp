#include "kernel/ir/visitor.h"

#include <utility>

#include "base/error.h"

namespace kiln::ir {

// ---- IRVisitor ----

void IRVisitor::walk(const Expr& e) {
  if (!e.defined()) return;
  switch (e.kind()) {
    case ExprKind::IntImm: return visit(e.as<IntImm>());
    case ExprKind::FloatImm: return visit(e.as<FloatImm>());
    case ExprKind::Var: return visit(e.as<Var>());
    case ExprKind::Cast: return visit(e.as<Cast>());
    case ExprKind::Reinterpret: return visit(e.as<Reinterpret>());
    case ExprKind::Binary: return visit(e.as<Binary>());
    case ExprKind::Not: return visit(e.as<Not>());
    case ExprKind::Select: return visit(e.as<Select>());
    case ExprKind::Load: return visit(e.as<Load>());
    case ExprKind::Ramp: return visit(e.as<Ramp>());
    case ExprKind::Broadcast: return visit(e.as<Broadcast>());
    case ExprKind::Call: return visit(e.as<Call>());
    case ExprKind::Access: return visit(e.as<Access>());
  }
}

void IRVisitor::walk(const Stmt& s) {
  if (!s.defined()) return;
  switch (s.kind()) {
    case StmtKind::For: return visit(s.as<For>());
    case StmtKind::Store: return visit(s.as<Store>());
    case StmtKind::LetStmt: return visit(s.as<LetStmt>());
    case StmtKind::IfThenElse: return visit(s.as<IfThenElse>());
    case StmtKind::Allocate: return visit(s.as<Allocate>());
    case StmtKind::Barrier: return visit(s.as<Barrier>());
    case StmtKind::Block: return visit(s.as<Block>());
  }
}

void IRVisitor::visit(const Cast* op) { walk(op->value); }
void IRVisitor::visit(const Reinterpret* op) { walk(op->value); }
void IRVisitor::visit(const Binary* op) { walk(op->a); walk(op->b); }
void IRVisitor::visit(const Not* op) { walk(op->value); }
void IRVisitor::visit(const Select* op) {
  walk(op->condition);
  walk(op->true_value);
  walk(op->false_value);
}
void IRVisitor::visit(const Load* op) { walk(op->index); }
void IRVisitor::visit(const Ramp* op) { walk(op->base); walk(op->stride); }
void IRVisitor::visit(const Broadcast* op) { walk(op->value); }
void IRVisitor::visit(const Call* op) {
  for (const Expr& arg : op->args) walk(arg);
}
void IRVisitor::visit(const Access* op) {
  for (const Expr& index : op->indices) walk(index);
}

void IRVisitor::visit(const For* op) {
  walk(op->min);
  walk(op->extent);
  walk(op->body);
}
void IRVisitor::visit(const Store* op) { walk(op->index); walk(op->value); }
void IRVisitor::visit(const LetStmt* op) { walk(op->value); walk(op->body); }
void IRVisitor::visit(const IfThenElse* op) {
  walk(op->condition);
  walk(op->then_case);
  walk(op->else_case);
}
void IRVisitor::visit(const Allocate* op) { walk(op->size); walk(op->body); }
void IRVisitor::visit(const Block* op) {
  for (const Stmt& s : op->stmts) walk(s);
}

// ---- IRMutator ----

Expr IRMutator::mutate(const Expr& e) {
  if (!e.defined()) return e;
  switch (e.kind()) {
    case ExprKind::IntImm: return visit(e.as<IntImm>(), e);
    case ExprKind::FloatImm: return visit(e.as<FloatImm>(), e);
    case ExprKind::Var: return visit(e.as<Var>(), e);
    case ExprKind::Cast: return visit(e.as<Cast>(), e);
    case ExprKind::Reinterpret: return visit(e.as<Reinterpret>(), e);
    case ExprKind::Binary: return visit(e.as<Binary>(), e);
    case ExprKind::Not: return visit(e.as<Not>(), e);
    case ExprKind::Select: return visit(e.as<Select>(), e);
    case ExprKind::Load: return visit(e.as<Load>(), e);
    case ExprKind::Ramp: return visit(e.as<Ramp>(), e);
    case ExprKind::Broadcast: return visit(e.as<Broadcast>(), e);
    case ExprKind::Call: return visit(e.as<Call>(), e);
    case ExprKind::Access: return visit(e.as<Access>(), e);
  }
  KILN_UNREACHABLE("unknown expression kind {}", static_cast<int>(e.kind()));
}

Stmt IRMutator::mutate(const Stmt& s) {
  if (!s.defined()) return s;
  switch (s.kind()) {
    case StmtKind::For: return visit(s.as<For>(), s);
    case StmtKind::Store: return visit(s.as<Store>(), s);
    case StmtKind::LetStmt: return visit(s.as<LetStmt>(), s);
    case StmtKind::IfThenElse: return visit(s.as<IfThenElse>(), s);
    case StmtKind::Allocate: return visit(s.as<Allocate>(), s);
    case StmtKind::Barrier: return visit(s.as<Barrier>(), s);
    case StmtKind::Block: return visit(s.as<Block>(), s);
  }
  KILN_UNREACHABLE("unknown statement kind {}", static_cast<int>(s.kind()));
}

Expr IRMutator::visit(const Cast* op, const Expr& e) {
  Expr value = mutate(op->value);
  if (value.same_as(op->value)) return e;
  return Cast::make(op->type, std::move(value));
}

Expr IRMutator::visit(const Reinterpret* op, const Expr& e) {
  Expr value = mutate(op->value);
  if (value.same_as(op->value)) return e;
  return Reinterpret::make(op->type, std::move(value));
}

Expr IRMutator::visit(const Binary* op, const Expr& e) {
  Expr a = mutate(op->a);
  Expr b = mutate(op->b);
  if (a.same_as(op->a) && b.same_as(op->b)) return e;
  return Binary::make(op->op, std::move(a), std::move(b));
}

Expr IRMutator::visit(const Not* op, const Expr& e) {
  Expr value = mutate(op->value);
  if (value.same_as(op->value)) return e;
  return Not::make(std::move(value));
}

Expr IRMutator::visit(const Select* op, const Expr& e) {
  Expr condition = mutate(op->condition);
  Expr true_value = mutate(op->true_value);
  Expr false_value = mutate(op->false_value);
  if (condition.same_as(op->condition) && true_value.same_as(op->true_value) &&
      false_value.same_as(op->false_value)) {
    return e;
  }
  return Select::make(std::move(condition), std::move(true_value), std::move(false_value));
}

Expr IRMutator::visit(const Load* op, const Expr& e) {
  Expr index = mutate(op->index);
  if (index.same_as(op->index)) return e;
  return Load::make(op->type.element_of(), op->buffer, std::move(index));
}

Expr IRMutator::visit(const Ramp* op, const Expr& e) {
  Expr base = mutate(op->base);
  Expr stride = mutate(op->stride);
  if (base.same_as(op->base) && stride.same_as(op->stride)) return e;
  return Ramp::make(std::move(base), std::move(stride), op->lanes);
}

Expr IRMutator::visit(const Broadcast* op, const Expr& e) {
  Expr value = mutate(op->value);
  if (value.same_as(op->value)) return e;
  return Broadcast::make(std::move(value), op->lanes);
}

Expr IRMutator::visit(const Call* op, const Expr& e) {
  std::vector<Expr> args;
  bool changed = false;
  for (const Expr& arg : op->args) {
    args.push_back(mutate(arg));
    changed = changed || !args.back().same_as(arg);
  }
  if (!changed) return e;
  return Call::make(op->op, std::move(args));
}

Expr IRMutator::visit(const Access* op, const Expr& e) {
  std::vector<Expr> indices;
  bool changed = false;
  for (const Expr& index : op->indices) {
    indices.push_back(mutate(index));
    changed = changed || !indices.back().same_as(index);
  }
  if (!changed) return e;
  return Access::make(op->type, op->tensor, std::move(indices));
}

Stmt IRMutator::visit(const For* op, const Stmt& s) {
  Expr min = mutate(op->min);
  Expr extent = mutate(op->extent);
  Stmt body = mutate(op->body);
  if (min.same_as(op->min) && extent.same_as(op->extent) && body.same_as(op->body)) return s;
  return For::make(op->var, std::move(min), std::move(extent), op->for_kind, std::move(body), op->gpu_dim);
}

Stmt IRMutator::visit(const Store* op, const Stmt& s) {
  Expr index = mutate(op->index);
  Expr value = mutate(op->value);
  if (index.same_as(op->index) && value.same_as(op->value)) return s;
  return Store::make(op->buffer, std::move(index), std::move(value));
}

Stmt IRMutator::visit(const LetStmt* op, const Stmt& s) {
  Expr value = mutate(op->value);
  Stmt body = mutate(op->body);
  if (value.same_as(op->value) && body.same_as(op->body)) return s;
  return LetStmt::make(op->name, std::move(value), std::move(body));
}

Stmt IRMutator::visit(const IfThenElse* op, const Stmt& s) {
  Expr condition = mutate(op->condition);
  Stmt then_case = mutate(op->then_case);
  Stmt else_case = mutate(op->else_case);
  if (condition.same_as(op->condition) && then_case.same_as(op->then_case) &&
      else_case.same_as(op->else_case)) {
    return s;
  }
  return IfThenElse::make(std::move(condition), std::move(then_case), std::move(else_case));
}

Stmt IRMutator::visit(const Allocate* op, const Stmt& s) {
  Expr size = mutate(op->size);
  Stmt body = mutate(op->body);
  if (size.same_as(op->size) && body.same_as(op->body)) return s;
  return Allocate::make(op->name, op->element_type, std::move(size), op->scope, std::move(body));
}

Stmt IRMutator::visit(const Block* op, const Stmt& s) {
  std::vector<Stmt> stmts;
  bool changed = false;
  for (const Stmt& stmt : op->stmts) {
    stmts.push_back(mutate(stmt));
    changed = changed || !stmts.back().same_as(stmt);
  }
  if (!changed) return s;
  return Block::make(std::move(stmts));
}

// ---- substitute, uses_var ----

namespace {

class Substituter : public IRMutator {
 public:
  explicit Substituter(const std::map<std::string, Expr>& replacements) : replacements_(replacements) {}

 protected:
  using IRMutator::visit;

  Expr visit(const Var* op, const Expr& e) override {
    if (hidden_.count(op->name) != 0) return e;
    auto it = replacements_.find(op->name);
    return it == replacements_.end() ? e : it->second;
  }

  Stmt visit(const For* op, const Stmt& s) override {
    Expr min = mutate(op->min);
    Expr extent = mutate(op->extent);
    Stmt body = mutate_hiding(op->var, op->body);
    if (min.same_as(op->min) && extent.same_as(op->extent) && body.same_as(op->body)) return s;
    return For::make(op->var, std::move(min), std::move(extent), op->for_kind, std::move(body), op->gpu_dim);
  }

  Stmt visit(const LetStmt* op, const Stmt& s) override {
    Expr value = mutate(op->value);
    Stmt body = mutate_hiding(op->name, op->body);
    if (value.same_as(op->value) && body.same_as(op->body)) return s;
    return LetStmt::make(op->name, std::move(value), std::move(body));
  }

 private:
  // Mutates `body` in the scope of a new binding of `name`.
  Stmt mutate_hiding(const std::string& name, const Stmt& body) {
    ++hidden_[name];
    Stmt result = mutate(body);
    if (--hidden_[name] == 0) hidden_.erase(name);
    return result;
  }

  const std::map<std::string, Expr>& replacements_;
  std::map<std::string, int> hidden_;
};

class VarUseFinder : public IRVisitor {
 public:
  explicit VarUseFinder(const std::string& name) : name_(name) {}
  bool found = false;

 protected:
  using IRVisitor::visit;

  void visit(const Var* op) override { found = found || (op->name == name_ && hidden_ == 0); }

  void visit(const For* op) override {
    walk(op->min);
    walk(op->extent);
    walk_body(op->var, op->body);
  }

  void visit(const LetStmt* op) override {
    walk(op->value);
    walk_body(op->name, op->body);
  }

 private:
  void walk_body(const std::string& bound_name, const Stmt& body) {
    if (bound_name == name_) ++hidden_;
    walk(body);
    if (bound_name == name_) --hidden_;
  }

  const std::string& name_;
  int hidden_ = 0;
};

}  // namespace

Expr substitute(const Expr& e, const std::map<std::string, Expr>& replacements) {
  return Substituter(replacements).mutate(e);
}

Stmt substitute(const Stmt& s, const std::map<std::string, Expr>& replacements) {
  return Substituter(replacements).mutate(s);
}

bool expr_uses_var(const Expr& e, const std::string& name) {
  VarUseFinder finder(name);
  finder.walk(e);
  return finder.found;
}

bool stmt_uses_var(const Stmt& s, const std::string& name) {
  VarUseFinder finder(name);
  finder.walk(s);
  return finder.found;
}

bool contains_gpu_loops(const Stmt& s) {
  class Find : public IRVisitor {
   public:
    bool found = false;

   protected:
    using IRVisitor::visit;
    void visit(const For* op) override {
      found = found || op->for_kind == ForKind::GpuBlock || op->for_kind == ForKind::GpuThread;
      IRVisitor::visit(op);
    }
  } find;
  find.walk(s);
  return find.found;
}

bool reads_buffer(const Expr& e, const std::string& buffer) {
  struct Finder : IRVisitor {
    const std::string& buffer;
    bool found = false;
    explicit Finder(const std::string& b) : buffer(b) {}
    using IRVisitor::visit;
    void visit(const Load* op) override {
      found = found || op->buffer == buffer;
      IRVisitor::visit(op);
    }
  } finder(buffer);
  finder.walk(e);
  return finder.found;
}

}  // namespace kiln::ir
