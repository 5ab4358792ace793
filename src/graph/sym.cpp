#include "graph/sym.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <utility>

#include "base/error.h"

// Every operation converts its operands to a polynomial over atoms (Poly), combines them there
// and converts back with from_poly(), which is the only place a Sum is built. Constant folding,
// `x + 0`, `x * 1`, `x * 0` and combining like terms all fall out of the polynomial arithmetic;
// the remaining rules (for `/`, `%`, min and max) are listed where they are applied.

namespace kiln::graph {
namespace {

int64_t checked_add(int64_t a, int64_t b) {
  int64_t result = 0;
  if (__builtin_add_overflow(a, b, &result)) {
    user_error("symbolic dimension arithmetic overflows int64: {} + {}", a, b);
  }
  return result;
}

int64_t checked_mul(int64_t a, int64_t b) {
  int64_t result = 0;
  if (__builtin_mul_overflow(a, b, &result)) {
    user_error("symbolic dimension arithmetic overflows int64: {} * {}", a, b);
  }
  return result;
}

// Floor division and modulo for a positive divisor: -1 / 32 == -1, -1 % 32 == 31.
int64_t floor_div(int64_t a, int64_t d) {
  const int64_t q = a / d;
  return (a % d != 0 && a < 0) ? q - 1 : q;
}

int64_t floor_mod(int64_t a, int64_t d) {
  const int64_t r = a % d;
  return r < 0 ? r + d : r;
}

SymExpr make(SymNode node) { return SymExpr(std::make_shared<const SymNode>(std::move(node))); }

SymExpr make_atom(SymKind kind, int64_t value, std::vector<SymExpr> operands) {
  return make(SymNode{kind, value, {}, {}, std::move(operands)});
}

int compare_factors(const std::vector<SymExpr>& a, const std::vector<SymExpr>& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (const int c = compare(a[i], b[i]); c != 0) return c;
  }
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

struct FactorsLess {
  bool operator()(const std::vector<SymExpr>& a, const std::vector<SymExpr>& b) const {
    return compare_factors(a, b) < 0;
  }
};

// coefficient per product of atoms; the empty product is the constant term. No zero entries.
using Poly = std::map<std::vector<SymExpr>, int64_t, FactorsLess>;

void add_term(Poly& poly, const std::vector<SymExpr>& factors, int64_t coefficient) {
  if (coefficient == 0) return;
  auto [it, inserted] = poly.try_emplace(factors, coefficient);
  if (inserted) return;
  it->second = checked_add(it->second, coefficient);
  if (it->second == 0) poly.erase(it);
}

Poly to_poly(const SymExpr& e) {
  Poly poly;
  const SymNode& n = e.node();
  switch (n.kind) {
    case SymKind::Const: add_term(poly, {}, n.value); break;
    case SymKind::Sum:
      add_term(poly, {}, n.value);
      for (const SymTerm& t : n.terms) add_term(poly, t.factors, t.coefficient);
      break;
    default: add_term(poly, {e}, 1); break;
  }
  return poly;
}

// The canonical expression of a polynomial: a constant, a lone atom, or a Sum.
SymExpr from_poly(const Poly& poly) {
  int64_t constant = 0;
  std::vector<SymTerm> terms;
  for (const auto& [factors, coefficient] : poly) {
    if (factors.empty()) {
      constant = coefficient;
    } else {
      terms.push_back(SymTerm{coefficient, factors});
    }
  }
  if (terms.empty()) return SymExpr(constant);
  if (constant == 0 && terms.size() == 1 && terms[0].coefficient == 1 &&
      terms[0].factors.size() == 1) {
    return terms[0].factors[0];
  }
  return make(SymNode{SymKind::Sum, constant, {}, std::move(terms), {}});
}

Poly multiply(const Poly& a, const Poly& b) {
  Poly product;
  for (const auto& [fa, ca] : a) {
    for (const auto& [fb, cb] : b) {
      std::vector<SymExpr> factors;
      factors.reserve(fa.size() + fb.size());
      std::merge(fa.begin(), fa.end(), fb.begin(), fb.end(), std::back_inserter(factors),
                 [](const SymExpr& x, const SymExpr& y) { return compare(x, y) < 0; });
      add_term(product, factors, checked_mul(ca, cb));
    }
  }
  return product;
}

int64_t positive_divisor(const SymExpr& a, const SymExpr& divisor, const char* op) {
  const std::optional<int64_t> d = divisor.as_constant();
  if (!d || *d <= 0) {
    user_error("'{}' {} '{}': the divisor of a symbolic dimension must be a positive constant",
               a.to_string(), op, divisor.to_string());
  }
  return *d;
}

// Splits every coefficient c of `poly` as d * floor(c / d) + (c mod d): the first parts go to
// `multiples` (already divided by d), the remainders, each in [1, d), to `rest`.
void split_by(const Poly& poly, int64_t d, Poly& multiples, Poly& rest) {
  for (const auto& [factors, c] : poly) {
    add_term(multiples, factors, floor_div(c, d));
    add_term(rest, factors, floor_mod(c, d));
  }
}

SymExpr min_or_max(SymKind kind, const SymExpr& a, const SymExpr& b) {
  // min(x + c1, x + c2) picks by the constant difference; this also folds two constants.
  if (const std::optional<int64_t> diff = (a - b).as_constant()) {
    const bool a_is_smaller = *diff <= 0;
    return (kind == SymKind::Min) == a_is_smaller ? a : b;
  }
  // min and max commute: keep the operands sorted, but a constant last: "min(kv_len, 4096)".
  if (a.is_constant() || (!b.is_constant() && compare(a, b) > 0)) {
    return make_atom(kind, 0, {b, a});
  }
  return make_atom(kind, 0, {a, b});
}

std::string magnitude(int64_t v) {
  return std::to_string(v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v));
}

// An operand of `/` or `%`, parenthesized unless it is a single name or call.
std::string operand_string(const SymExpr& e) {
  const SymKind k = e.kind();
  const bool simple = k == SymKind::Symbol || k == SymKind::Min || k == SymKind::Max ||
                      (k == SymKind::Const && *e.as_constant() >= 0);
  return simple ? e.to_string() : "(" + e.to_string() + ")";
}

std::string atom_string(const SymNode& n) {
  switch (n.kind) {
    case SymKind::Symbol: return n.name;
    case SymKind::FloorDiv:
      return operand_string(n.operands[0]) + " / " + std::to_string(n.value);
    case SymKind::Mod: return operand_string(n.operands[0]) + " % " + std::to_string(n.value);
    case SymKind::Min:
      return "min(" + n.operands[0].to_string() + ", " + n.operands[1].to_string() + ")";
    case SymKind::Max:
      return "max(" + n.operands[0].to_string() + ", " + n.operands[1].to_string() + ")";
    default: KILN_UNREACHABLE("not an atom: kind {}", static_cast<int>(n.kind));
  }
}

// |coefficient| * factors, factors first: "n_tokens * 9". `leading`: no sign is printed before
// it but a minus, so "-(n / 2)" needs its parentheses ("-n / 2" reads as floor(-n / 2)).
std::string term_string(const SymTerm& term, bool leading) {
  const bool product = term.factors.size() > 1 || (term.coefficient != 1 && term.coefficient != -1);
  const bool parenthesize_divisions = product || (leading && term.coefficient < 0);
  std::string s;
  for (const SymExpr& f : term.factors) {
    if (!s.empty()) s += " * ";
    const bool parenthesize =
        parenthesize_divisions && (f.kind() == SymKind::FloorDiv || f.kind() == SymKind::Mod);
    s += parenthesize ? "(" + atom_string(f.node()) + ")" : atom_string(f.node());
  }
  if (term.coefficient != 1 && term.coefficient != -1) s += " * " + magnitude(term.coefficient);
  return s;
}

std::string sum_string(const SymNode& n) {
  std::string s;
  for (const SymTerm& term : n.terms) {
    const bool negative = term.coefficient < 0;
    if (s.empty()) {
      s = (negative ? "-" : "") + term_string(term, true);
    } else {
      s += (negative ? " - " : " + ") + term_string(term, false);
    }
  }
  if (n.value != 0) s += (n.value < 0 ? " - " : " + ") + magnitude(n.value);
  return s;
}

void collect_symbols(const SymExpr& e, std::set<std::string>& out) {
  const SymNode& n = e.node();
  if (n.kind == SymKind::Symbol) out.insert(n.name);
  for (const SymTerm& t : n.terms) {
    for (const SymExpr& f : t.factors) collect_symbols(f, out);
  }
  for (const SymExpr& o : n.operands) collect_symbols(o, out);
}

int64_t evaluate_in(const SymExpr& e, const std::map<std::string, int64_t>& bindings,
                    const SymExpr& whole) {
  const SymNode& n = e.node();
  switch (n.kind) {
    case SymKind::Const: return n.value;
    case SymKind::Symbol: {
      const auto it = bindings.find(n.name);
      if (it == bindings.end()) {
        std::string bound;
        for (const auto& [name, value] : bindings) bound += (bound.empty() ? "" : ", ") + name;
        user_error("symbol '{}' has no value while evaluating '{}' (bound: {})", n.name,
                   whole.to_string(), bound.empty() ? "none" : bound);
      }
      return it->second;
    }
    case SymKind::Sum: {
      int64_t total = n.value;
      for (const SymTerm& t : n.terms) {
        int64_t product = t.coefficient;
        for (const SymExpr& f : t.factors) {
          product = checked_mul(product, evaluate_in(f, bindings, whole));
        }
        total = checked_add(total, product);
      }
      return total;
    }
    case SymKind::FloorDiv: return floor_div(evaluate_in(n.operands[0], bindings, whole), n.value);
    case SymKind::Mod: return floor_mod(evaluate_in(n.operands[0], bindings, whole), n.value);
    case SymKind::Min:
      return std::min(evaluate_in(n.operands[0], bindings, whole),
                      evaluate_in(n.operands[1], bindings, whole));
    case SymKind::Max:
      return std::max(evaluate_in(n.operands[0], bindings, whole),
                      evaluate_in(n.operands[1], bindings, whole));
  }
  KILN_UNREACHABLE("unknown SymKind {}", static_cast<int>(n.kind));
}

bool is_identifier(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

}  // namespace

SymExpr::SymExpr() : SymExpr(int64_t{0}) {}
SymExpr::SymExpr(int64_t value)
    : node_(std::make_shared<const SymNode>(SymNode{SymKind::Const, value})) {}
SymExpr::SymExpr(int value) : SymExpr(static_cast<int64_t>(value)) {}

SymKind SymExpr::kind() const { return node_->kind; }

std::optional<int64_t> SymExpr::as_constant() const {
  if (node_->kind != SymKind::Const) return std::nullopt;
  return node_->value;
}

bool SymExpr::same_as(const SymExpr& other) const { return compare(*this, other) == 0; }

int64_t SymExpr::evaluate(const std::map<std::string, int64_t>& bindings) const {
  return evaluate_in(*this, bindings, *this);
}

std::set<std::string> SymExpr::symbols() const {
  std::set<std::string> out;
  collect_symbols(*this, out);
  return out;
}

std::string SymExpr::to_string() const {
  switch (node_->kind) {
    case SymKind::Const: return std::to_string(node_->value);
    case SymKind::Sum: return sum_string(*node_);
    default: return atom_string(*node_);
  }
}

SymExpr sym(const std::string& name) {
  if (!is_identifier(name)) {
    user_error("'{}' is not a valid symbol name: use letters, digits and '_', not starting with a "
               "digit",
               name);
  }
  return make(SymNode{SymKind::Symbol, 0, name, {}, {}});
}

SymExpr operator+(const SymExpr& a, const SymExpr& b) {
  Poly sum = to_poly(a);
  for (const auto& [factors, c] : to_poly(b)) add_term(sum, factors, c);
  return from_poly(sum);
}

SymExpr operator-(const SymExpr& a) { return from_poly(multiply(to_poly(a), to_poly(-1))); }

SymExpr operator-(const SymExpr& a, const SymExpr& b) { return a + (-b); }

SymExpr operator*(const SymExpr& a, const SymExpr& b) {
  return from_poly(multiply(to_poly(a), to_poly(b)));
}

// floor((d*q + r) / d) == q + floor(r / d) for integers; r's coefficients end up in [0, d), so a
// constant r divides to 0. Nested divisions merge: (x / a) / b == x / (a * b) for a, b > 0.
SymExpr operator/(const SymExpr& a, const SymExpr& divisor) {
  const int64_t d = positive_divisor(a, divisor, "/");
  if (d == 1) return a;
  Poly quotient;
  Poly rest;
  split_by(to_poly(a), d, quotient, rest);
  const SymExpr q = from_poly(quotient);
  const SymExpr r = from_poly(rest);
  if (r.is_constant()) return q;
  if (r.kind() == SymKind::FloorDiv) {
    return q + r.node().operands[0] / SymExpr(checked_mul(r.node().value, d));
  }
  return q + make_atom(SymKind::FloorDiv, d, {r});
}

// (d*q + r) % d == r % d; a constant r is already reduced. (x % a) % b == x % b when b divides a.
SymExpr operator%(const SymExpr& a, const SymExpr& divisor) {
  const int64_t d = positive_divisor(a, divisor, "%");
  if (d == 1) return SymExpr(0);
  Poly multiples;
  Poly rest;
  split_by(to_poly(a), d, multiples, rest);
  const SymExpr r = from_poly(rest);
  if (r.is_constant()) return r;
  if (r.kind() == SymKind::Mod && r.node().value % d == 0) return r.node().operands[0] % divisor;
  return make_atom(SymKind::Mod, d, {r});
}

SymExpr min(const SymExpr& a, const SymExpr& b) { return min_or_max(SymKind::Min, a, b); }
SymExpr max(const SymExpr& a, const SymExpr& b) { return min_or_max(SymKind::Max, a, b); }

int compare(const SymExpr& a, const SymExpr& b) {
  const SymNode& x = a.node();
  const SymNode& y = b.node();
  if (&x == &y) return 0;
  if (x.kind != y.kind) return x.kind < y.kind ? -1 : 1;
  if (x.value != y.value) return x.value < y.value ? -1 : 1;
  if (const int c = x.name.compare(y.name); c != 0) return c < 0 ? -1 : 1;
  if (x.terms.size() != y.terms.size()) return x.terms.size() < y.terms.size() ? -1 : 1;
  for (size_t i = 0; i < x.terms.size(); ++i) {
    if (const int c = compare_factors(x.terms[i].factors, y.terms[i].factors); c != 0) return c;
    if (x.terms[i].coefficient != y.terms[i].coefficient) {
      return x.terms[i].coefficient < y.terms[i].coefficient ? -1 : 1;
    }
  }
  return compare_factors(x.operands, y.operands);
}

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += shape[i].to_string();
  }
  return s + "]";
}

bool same_shape(const Shape& a, const Shape& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].same_as(b[i])) return false;
  }
  return true;
}

SymExpr num_elements(const Shape& shape) {
  SymExpr product = 1;
  for (const SymExpr& dim : shape) product = product * dim;
  return product;
}

std::set<std::string> symbols(const Shape& shape) {
  std::set<std::string> out;
  for (const SymExpr& dim : shape) collect_symbols(dim, out);
  return out;
}

}  // namespace kiln::graph
