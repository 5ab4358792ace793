// Integer arithmetic with the loop IR's semantics, and a scalar evaluator built on it.
//
// The runtime uses evaluate_int to compute launch sizes (grid and block expressions of the size
// parameters); the simplifier folds constants with fold_int, so both agree on what every
// operator means.
//
// Semantics (C's): an integer of type t is held in an int64_t, sign-extended for Int and
// zero-extended for UInt (a u64 as its bit pattern); Div and Mod round toward zero; UInt
// arithmetic wraps; signed overflow, division by zero and shifts by >= the width have no value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "kernel/ir/expr.h"

namespace kiln::ir {

// `value` wrapped into the range of the integer or bool type `type` (its lanes are ignored).
int64_t wrap_to_type(Type type, int64_t value);

// a OP b for operands of integer or bool type `operand_type`; comparisons and And/Or give 0 or 1.
// Nothing when C leaves the result undefined (see above).
std::optional<int64_t> fold_int(BinaryOp op, Type operand_type, int64_t a, int64_t b);

// The value of a scalar integer or bool expression over integer variables (IntImm, Var, integer
// Cast, Binary, Not, Select, abs). Select evaluates only the chosen side.
// Throws UserError for division by zero or overflow (bad sizes), InternalError for an unbound
// variable or an expression it cannot evaluate (a load, a float, a vector).
int64_t evaluate_int(const Expr& e, const std::map<std::string, int64_t>& vars);

// As evaluate_int, but nothing instead of throwing.
std::optional<int64_t> try_evaluate_int(const Expr& e, const std::map<std::string, int64_t>& vars);

}  // namespace kiln::ir
