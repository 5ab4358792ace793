#include "runtime/size_expr.h"

#include <algorithm>

#include "base/error.h"

namespace kiln::runtime {
namespace {

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

}  // namespace

int64_t SizeExpr::evaluate(std::span<const int64_t> symbols) const {
  int64_t stack[32];
  size_t top = 0;
  for (const Instr& in : code) {
    if (in.op == Op::Const || in.op == Op::Symbol) {
      KILN_CHECK(top < std::size(stack), "size expression deeper than {}", std::size(stack));
      KILN_CHECK(in.op == Op::Const || (in.value >= 0 && static_cast<size_t>(in.value) < symbols.size()),
                 "size expression reads symbol slot {} of {}", in.value, symbols.size());
      stack[top++] = in.op == Op::Const ? in.value : symbols[static_cast<size_t>(in.value)];
      continue;
    }
    KILN_CHECK(top >= 2, "size expression: operator without two operands");
    const int64_t b = stack[--top];
    int64_t& a = stack[top - 1];
    switch (in.op) {
      case Op::Add:
        if (__builtin_add_overflow(a, b, &a)) user_error("a size overflows 64 bits");
        break;
      case Op::Mul:
        if (__builtin_mul_overflow(a, b, &a)) user_error("a size overflows 64 bits");
        break;
      case Op::FloorDiv:
        KILN_CHECK(b > 0, "size expression divides by {}", b);
        a = floor_div(a, b);
        break;
      case Op::Mod:
        KILN_CHECK(b > 0, "size expression takes a remainder of {}", b);
        a = a - b * floor_div(a, b);
        break;
      case Op::Min: a = std::min(a, b); break;
      case Op::Max: a = std::max(a, b); break;
      case Op::Const:
      case Op::Symbol: break;
    }
  }
  KILN_CHECK(top == 1, "size expression leaves {} values", top);
  return stack[0];
}

std::string SizeExpr::to_string(std::span<const std::string> symbol_names) const {
  std::string out;
  for (const Instr& in : code) {
    if (!out.empty()) out += ' ';
    switch (in.op) {
      case Op::Const: out += std::to_string(in.value); break;
      case Op::Symbol:
        out += in.value >= 0 && static_cast<size_t>(in.value) < symbol_names.size()
                   ? symbol_names[static_cast<size_t>(in.value)]
                   : "$" + std::to_string(in.value);
        break;
      case Op::Add: out += '+'; break;
      case Op::Mul: out += '*'; break;
      case Op::FloorDiv: out += '/'; break;
      case Op::Mod: out += '%'; break;
      case Op::Min: out += "min"; break;
      case Op::Max: out += "max"; break;
    }
  }
  return out;
}

}  // namespace kiln::runtime
