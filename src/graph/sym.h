// Symbolic dimensions: immutable integer expressions over named symbols (`n_tokens`, `kv_len`).
//
// Every SymExpr is kept in one canonical form, so two expressions that are equal as polynomials
// are the same expression (`same_as`). The canonical form is a polynomial over atoms: a
// constant plus a sum of `coefficient * atom * atom ...` terms with integer coefficients, where
// an atom is a symbol or an expression that is not a polynomial (floor division or modulo by a
// positive constant, min, max). Products are expanded and like terms combined, so
// `(n + 1) * 2` and `2 * n + 2` are the same, and so are `n * 9 * 64` and `n * 576`.
//
// What is *not* proven equal: anything that needs facts about a symbol's range or divisibility
// (`n / 2 * 2` is not `n`, `min(n, 0)` is not `0`), since symbols are arbitrary integers here.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace kiln::graph {

enum class SymKind : uint8_t {
  Const,     // an integer constant
  Symbol,    // a named symbol, bound to a value when the model runs
  Sum,       // constant + sum of coefficient * product-of-atoms terms (at least one term)
  FloorDiv,  // floor(operand / divisor), divisor a constant > 1
  Mod,       // operand - divisor * floor(operand / divisor), divisor a constant > 1
  Min,
  Max,
};

struct SymNode;

// A handle to an immutable, canonical symbolic integer expression. Cheap to copy.
class SymExpr {
 public:
  SymExpr();              // the constant 0
  SymExpr(int64_t value);  // NOLINT: implicit, so a Shape reads `{sym("n_tokens"), 576}`
  SymExpr(int value);      // NOLINT
  explicit SymExpr(std::shared_ptr<const SymNode> node) : node_(std::move(node)) {}

  SymKind kind() const;
  const SymNode& node() const { return *node_; }

  bool is_constant() const { return kind() == SymKind::Const; }
  std::optional<int64_t> as_constant() const;

  // Structural equality of the canonical forms: true when the two are equal as polynomials
  // over their atoms (see the top of this file for what that can and cannot prove).
  bool same_as(const SymExpr& other) const;

  // The value under `bindings`. Throws UserError naming the symbol if one has no binding, or if
  // the arithmetic overflows int64.
  int64_t evaluate(const std::map<std::string, int64_t>& bindings) const;

  // Names of every symbol the expression mentions.
  std::set<std::string> symbols() const;

  // Readable text: "n_tokens * 9", "kv_len + 1", "(n + 31) / 32", "min(kv_len, 4096)".
  // `/` and `%` print floor division and floor modulo.
  std::string to_string() const;

 private:
  std::shared_ptr<const SymNode> node_;
};

// A term of a Sum: coefficient * factors[0] * factors[1] * ...
struct SymTerm {
  int64_t coefficient;           // never 0
  std::vector<SymExpr> factors;  // atoms (Symbol, FloorDiv, Mod, Min, Max), sorted, non-empty
};

// The read-only contents of an expression, for code that walks it (lowering to loop IR).
struct SymNode {
  SymKind kind;
  int64_t value = 0;              // Const: the value; Sum: the constant term; FloorDiv/Mod: divisor
  std::string name;               // Symbol only
  std::vector<SymTerm> terms;     // Sum only: sorted, no two with the same factors
  std::vector<SymExpr> operands;  // FloorDiv/Mod: {dividend}; Min/Max: {a, b}, sorted
};

// A symbol. The name must be an identifier ([A-Za-z_][A-Za-z0-9_]*); otherwise UserError.
SymExpr sym(const std::string& name);

SymExpr operator+(const SymExpr& a, const SymExpr& b);
SymExpr operator-(const SymExpr& a, const SymExpr& b);
SymExpr operator*(const SymExpr& a, const SymExpr& b);
SymExpr operator-(const SymExpr& a);
// Floor division and floor modulo (the result has the divisor's sign, so `-1 % 32 == 31`).
// The divisor must be a positive constant; otherwise UserError.
SymExpr operator/(const SymExpr& a, const SymExpr& divisor);
SymExpr operator%(const SymExpr& a, const SymExpr& divisor);
SymExpr min(const SymExpr& a, const SymExpr& b);
SymExpr max(const SymExpr& a, const SymExpr& b);

// Equality is `same_as` (a bool, unlike the loop IR's Expr, where == builds an expression).
inline bool operator==(const SymExpr& a, const SymExpr& b) { return a.same_as(b); }

// A total order on canonical expressions (negative, 0 or positive), for sorting and map keys.
int compare(const SymExpr& a, const SymExpr& b);

// A tensor's dimensions, outermost first: row-major, the last dimension is contiguous. A
// token-by-feature activation is `[n_tokens, dim]`. GGUF and ggml list dimensions the other way
// round (ne[0] is the contiguous one); model loaders reverse them when they build a graph.
using Shape = std::vector<SymExpr>;

std::string to_string(const Shape& shape);  // "[n_tokens, 576]"; a scalar is "[]"
bool same_shape(const Shape& a, const Shape& b);
SymExpr num_elements(const Shape& shape);  // the product of the dimensions; 1 for a scalar
std::set<std::string> symbols(const Shape& shape);

}  // namespace kiln::graph

template <>
struct fmt::formatter<kiln::graph::SymExpr> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const kiln::graph::SymExpr& e, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(e.to_string(), ctx);
  }
};
