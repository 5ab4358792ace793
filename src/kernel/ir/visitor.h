// Walking and rewriting the loop IR.
//
// IRVisitor walks a tree; IRMutator rebuilds one. Both dispatch on the node's kind to one
// overridable `visit` per node kind, whose default visits (or mutates) the children. A subclass
// overrides the kinds it cares about and calls the base's `visit` to keep recursing (adding
// `using IRVisitor::visit;` keeps the hooks it does not override visible).
//
// IRMutator returns the very same node when none of its children changed (Halide's
// `if (a.same_as(op->a) ...) return e;`), so passes can cheaply tell "nothing to do".
#pragma once

#include <map>
#include <string>

#include "kernel/ir/expr.h"
#include "kernel/ir/stmt.h"

namespace kiln::ir {

class IRVisitor {
 public:
  virtual ~IRVisitor() = default;
  // Visits the node (and, by default, everything under it); null handles are skipped.
  void walk(const Expr& e);
  void walk(const Stmt& s);

 protected:
  virtual void visit(const IntImm*) {}
  virtual void visit(const FloatImm*) {}
  virtual void visit(const Var*) {}
  virtual void visit(const Cast* op);
  virtual void visit(const Reinterpret* op);
  virtual void visit(const Binary* op);
  virtual void visit(const Not* op);
  virtual void visit(const Select* op);
  virtual void visit(const Load* op);
  virtual void visit(const Ramp* op);
  virtual void visit(const Broadcast* op);
  virtual void visit(const Call* op);
  virtual void visit(const Access* op);

  virtual void visit(const For* op);
  virtual void visit(const Store* op);
  virtual void visit(const LetStmt* op);
  virtual void visit(const IfThenElse* op);
  virtual void visit(const Allocate* op);
  virtual void visit(const Barrier*) {}
  virtual void visit(const Block* op);
};

class IRMutator {
 public:
  virtual ~IRMutator() = default;
  // The rewritten node; `e` itself when nothing under it changed. Null stays null.
  virtual Expr mutate(const Expr& e);
  virtual Stmt mutate(const Stmt& s);

 protected:
  // Each hook gets the node and its handle `e` (to return unchanged).
  virtual Expr visit(const IntImm*, const Expr& e) { return e; }
  virtual Expr visit(const FloatImm*, const Expr& e) { return e; }
  virtual Expr visit(const Var*, const Expr& e) { return e; }
  virtual Expr visit(const Cast* op, const Expr& e);
  virtual Expr visit(const Reinterpret* op, const Expr& e);
  virtual Expr visit(const Binary* op, const Expr& e);
  virtual Expr visit(const Not* op, const Expr& e);
  virtual Expr visit(const Select* op, const Expr& e);
  virtual Expr visit(const Load* op, const Expr& e);
  virtual Expr visit(const Ramp* op, const Expr& e);
  virtual Expr visit(const Broadcast* op, const Expr& e);
  virtual Expr visit(const Call* op, const Expr& e);
  virtual Expr visit(const Access* op, const Expr& e);

  virtual Stmt visit(const For* op, const Stmt& s);
  virtual Stmt visit(const Store* op, const Stmt& s);
  virtual Stmt visit(const LetStmt* op, const Stmt& s);
  virtual Stmt visit(const IfThenElse* op, const Stmt& s);
  virtual Stmt visit(const Allocate* op, const Stmt& s);
  virtual Stmt visit(const Barrier*, const Stmt& s) { return s; }
  virtual Stmt visit(const Block* op, const Stmt& s);
};

// Replaces free Vars by name. A For or LetStmt that rebinds a name hides it from the
// replacement inside its body (the bound value or loop bounds are still rewritten). Nothing is
// renamed: a replacement mentioning a name that an inner For or LetStmt rebinds is captured by
// it, so passes give their variables unique names.
Expr substitute(const Expr& e, const std::map<std::string, Expr>& replacements);
Stmt substitute(const Stmt& s, const std::map<std::string, Expr>& replacements);

// Whether `s` holds a GpuBlock or GpuThread loop.
bool contains_gpu_loops(const Stmt& s);

// Whether the variable `name` occurs free (not rebound by an inner For or LetStmt).
bool expr_uses_var(const Expr& e, const std::string& name);
// Whether `e` loads from `buffer`.
bool reads_buffer(const Expr& e, const std::string& buffer);
bool stmt_uses_var(const Stmt& s, const std::string& name);

}  // namespace kiln::ir
