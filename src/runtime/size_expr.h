// An integer size over a program's symbols, as the runtime evaluates it: a postfix program over
// symbol slots (n_tokens = 0, n_past = 1, ...). The compiler writes one for every size a launch,
// an allocation or a view needs (from the graph's symbolic shapes); a run evaluates each once.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kiln::runtime {

struct SizeExpr {
  enum class Op : uint8_t { Const, Symbol, Add, Mul, FloorDiv, Mod, Min, Max };
  struct Instr {
    Op op = Op::Const;
    int64_t value = 0;  // Const: the value; Symbol: its slot
  };
  std::vector<Instr> code;

  static SizeExpr constant(int64_t value) { return SizeExpr{{{Op::Const, value}}}; }
  // The value with symbol slot i bound to symbols[i]. UserError if the arithmetic overflows
  // int64; InternalError for a malformed program (a compiler bug).
  int64_t evaluate(std::span<const int64_t> symbols) const;
  // Postfix text, for tests and errors: "n_past 1 +" with names from `symbol_names`.
  std::string to_string(std::span<const std::string> symbol_names) const;
};

}  // namespace kiln::runtime
