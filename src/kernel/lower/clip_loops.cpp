#include "kernel/lower/clip_loops.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kernel/ir/equal.h"
#include "kernel/ir/simplify.h"
#include "kernel/ir/visitor.h"

namespace kiln::kernel {
namespace {

using ir::BinaryOp;
using ir::Expr;
using ir::Stmt;

Expr i64(int64_t v) { return Expr(v); }

// Each comparison of a conjunction as f >= 0 (f an i64 expression).
void nonnegative_forms(const Expr& predicate, std::vector<Expr>& out) {
  const ir::Binary* op = predicate.as<ir::Binary>();
  if (op == nullptr) return;
  switch (op->op) {
    case BinaryOp::And: nonnegative_forms(op->a, out); nonnegative_forms(op->b, out); return;
    case BinaryOp::LE: out.push_back(op->b - op->a); return;
    case BinaryOp::LT: out.push_back(op->b - op->a - i64(1)); return;
    case BinaryOp::GE: out.push_back(op->a - op->b); return;
    case BinaryOp::GT: out.push_back(op->a - op->b - i64(1)); return;
    default: return;  // not a bound: no cut from it
  }
}

struct Range {
  Expr min, extent;
};

// The lets and loops inside a statement, by name; a name defined twice differently is dropped.
class Definitions : public ir::IRVisitor {
 public:
  std::map<std::string, std::optional<Expr>> lets;
  std::map<std::string, std::optional<Range>> loops;

 protected:
  using ir::IRVisitor::visit;
  void visit(const ir::LetStmt* op) override {
    auto [it, inserted] = lets.emplace(op->name, op->value);
    if (!inserted && it->second && !ir::equal(*it->second, op->value)) it->second.reset();
    ir::IRVisitor::visit(op);
  }
  void visit(const ir::For* op) override {
    auto [it, inserted] = loops.emplace(op->var, Range{op->min, op->extent});
    if (!inserted && it->second && !(ir::equal(it->second->min, op->min) && ir::equal(it->second->extent, op->extent))) {
      it->second.reset();
    }
    ir::IRVisitor::visit(op);
  }
};

class FreeVars : public ir::IRVisitor {
 public:
  std::set<std::string> names;

 protected:
  using ir::IRVisitor::visit;
  void visit(const ir::Var* op) override { names.insert(op->name); }
};

std::set<std::string> free_vars(const Expr& e) {
  FreeVars f;
  f.walk(e);
  return f.names;
}

Expr at(const Expr& e, const std::string& var, const Expr& value) { return ir::simplify(ir::substitute(e, {{var, value}})); }

// The constant coefficient of `var` in `e`, if `e` is affine in it.
std::optional<int64_t> coefficient(const Expr& e, const std::string& var) {
  const Expr d1 = ir::simplify(at(e, var, i64(1)) - at(e, var, i64(0)));
  const Expr d2 = ir::simplify(at(e, var, i64(2)) - at(e, var, i64(1)));
  const int64_t* c1 = ir::as_const_int(d1);
  const int64_t* c2 = ir::as_const_int(d2);
  if (c1 == nullptr || c2 == nullptr || *c1 != *c2) return std::nullopt;
  return *c1;
}

class Clipper : public ir::IRMutator {
 public:
  explicit Clipper(std::vector<Expr> forms) : forms_(std::move(forms)) {}

  using ir::IRMutator::mutate;

 protected:
  using ir::IRMutator::visit;

  Stmt visit(const ir::LetStmt* op, const Stmt& s) override {
    std::map<std::string, Expr> outer = lets_;
    lets_[op->name] = ir::substitute(op->value, lets_);
    Stmt body = mutate(op->body);
    lets_ = std::move(outer);
    return body.same_as(op->body) ? s : ir::LetStmt::make(op->name, op->value, body);
  }

  Stmt visit(const ir::For* op, const Stmt& s) override {
    Expr min = op->min, extent = op->extent;
    if (op->for_kind == ir::ForKind::Serial || op->for_kind == ir::ForKind::Parallel) {
      Definitions inner;
      inner.walk(op->body);
      for (const Expr& f : forms_) cut(op->var, inner, f, min, extent);
    }
    Stmt body = mutate(op->body);
    if (min.same_as(op->min) && extent.same_as(op->extent) && body.same_as(op->body)) return s;
    return ir::For::make(op->var, min, extent, op->for_kind, body, op->gpu_dim);
  }

 private:
  // Narrows [min, min + extent) of `var` by f >= 0, where some point of the inner loops must
  // satisfy it: f's inner loop variables at the end of their range that makes f largest.
  void cut(const std::string& var, const Definitions& inner, const Expr& form, Expr& min, Expr& extent) {
    Expr f = ir::substitute(form, lets_);
    // The stage's axes in terms of loop variables: lets inside the loop (a few rounds, as lets
    // may be written in terms of other lets).
    for (int round = 0; round < 4; ++round) {
      std::map<std::string, Expr> values;
      for (const std::string& name : free_vars(f)) {
        auto it = inner.lets.find(name);
        if (it != inner.lets.end() && it->second) values[name] = *it->second;
      }
      if (values.empty()) break;
      f = ir::substitute(ir::substitute(f, values), lets_);
    }
    f = ir::simplify(f);
    const std::optional<int64_t> alpha = coefficient(f, var);
    if (!alpha || *alpha == 0) return;
    Expr g = at(f, var, i64(0));
    for (int round = 0; round < 4; ++round) {
      bool changed = false;
      for (const std::string& name : free_vars(g)) {
        if (inner.lets.count(name)) return;  // an inner let with two definitions
        auto loop = inner.loops.find(name);
        if (loop == inner.loops.end()) continue;  // bound outside the loop: fixed while it runs
        if (!loop->second) return;                // two ranges: no cut
        const std::optional<int64_t> beta = coefficient(g, name);
        if (!beta) return;
        const Range& r = *loop->second;
        g = at(g, name, *beta > 0 ? r.min + r.extent - i64(1) : r.min);
        changed = true;
      }
      if (!changed) break;
    }
    for (const std::string& name : free_vars(g)) {
      if (name == var || inner.lets.count(name) || inner.loops.count(name)) return;
    }
    const Expr end = min + extent;
    if (*alpha > 0) {
      // var >= ceil(-g / alpha)
      const Expr x = ir::simplify(i64(0) - g), a = i64(*alpha);
      const Expr lowest =
          *alpha == 1 ? x : ir::select(x > i64(0), (x + a - i64(1)) / a, i64(0) - (i64(0) - x) / a);
      min = ir::simplify(ir::max(min, lowest));
      extent = ir::simplify(ir::max(end - min, i64(0)));
    } else {
      // var <= floor(g / -alpha)
      const Expr a = i64(-*alpha);
      const Expr highest =
          *alpha == -1 ? g : ir::select(g >= i64(0), g / a, i64(0) - (i64(0) - g + a - i64(1)) / a);
      extent = ir::simplify(ir::max(ir::min(end, highest + i64(1)) - min, i64(0)));
    }
  }

  std::vector<Expr> forms_;
  std::map<std::string, Expr> lets_;  // lets outside, in terms of loop variables
};

}  // namespace

Stmt clip_loops(const Stmt& body, const Expr& predicate) {
  if (!predicate.defined()) return body;
  std::vector<Expr> forms;
  nonnegative_forms(predicate, forms);
  if (forms.empty()) return body;
  return Clipper(std::move(forms)).mutate(body);
}

}  // namespace kiln::kernel
