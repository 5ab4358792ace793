#include "kernel/ir/equal.h"

#include <cstring>
#include <vector>

namespace kiln::ir {

namespace {

bool all_equal(const std::vector<Expr>& a, const std::vector<Expr>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!equal(a[i], b[i])) return false;
  }
  return true;
}

}  // namespace

bool equal(const Expr& a, const Expr& b) {
  if (a.same_as(b)) return true;
  if (!a.defined() || !b.defined()) return false;
  if (a.kind() != b.kind() || a.type() != b.type()) return false;
  switch (a.kind()) {
    case ExprKind::IntImm: return a.as<IntImm>()->value == b.as<IntImm>()->value;
    case ExprKind::FloatImm: {
      // Bitwise, so that NaN equals itself and -0.0 differs from 0.0.
      const double x = a.as<FloatImm>()->value, y = b.as<FloatImm>()->value;
      return std::memcmp(&x, &y, sizeof x) == 0;
    }
    case ExprKind::Var: return a.as<Var>()->name == b.as<Var>()->name;
    case ExprKind::Cast: return equal(a.as<Cast>()->value, b.as<Cast>()->value);
    case ExprKind::Reinterpret: return equal(a.as<Reinterpret>()->value, b.as<Reinterpret>()->value);
    case ExprKind::Binary: {
      const Binary *x = a.as<Binary>(), *y = b.as<Binary>();
      return x->op == y->op && equal(x->a, y->a) && equal(x->b, y->b);
    }
    case ExprKind::Not: return equal(a.as<Not>()->value, b.as<Not>()->value);
    case ExprKind::Select: {
      const Select *x = a.as<Select>(), *y = b.as<Select>();
      return equal(x->condition, y->condition) && equal(x->true_value, y->true_value) &&
             equal(x->false_value, y->false_value);
    }
    case ExprKind::Load: {
      const Load *x = a.as<Load>(), *y = b.as<Load>();
      return x->buffer == y->buffer && equal(x->index, y->index);
    }
    case ExprKind::Ramp: {
      const Ramp *x = a.as<Ramp>(), *y = b.as<Ramp>();
      return equal(x->base, y->base) && equal(x->stride, y->stride);
    }
    case ExprKind::Broadcast: return equal(a.as<Broadcast>()->value, b.as<Broadcast>()->value);
    case ExprKind::Call: {
      const Call *x = a.as<Call>(), *y = b.as<Call>();
      return x->op == y->op && all_equal(x->args, y->args);
    }
    case ExprKind::Access: {
      const Access *x = a.as<Access>(), *y = b.as<Access>();
      return x->tensor == y->tensor && all_equal(x->indices, y->indices);
    }
  }
  return false;
}

}  // namespace kiln::ir
