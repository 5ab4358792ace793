// The loop IR as readable, C-like text: what `kiln compile --dump loops` shows and what the
// "IR before/after" tests compare against.
//
//   kernel scale(x: f32*, out: f32* [out]; sizes: n) {
//     parallel (i, 0, n) {
//       out[i] = x[i] * 0.5f
//     }
//   }
//
// Expressions use C precedence with the fewest parentheses; vectors print as
// `ramp(base, stride, lanes)` and `broadcast(value, lanes)`, conversions as `f32(x)`, bit casts
// as `reinterpret<f32>(x)`. Constants re-read exactly: `1e-05f` is an f32, `0.5` an f64, `7` an
// i64, `i32(7)` any other integer type.
#pragma once

#include <ostream>
#include <string>

#include "kernel/ir/expr.h"
#include "kernel/ir/kernel.h"
#include "kernel/ir/stmt.h"

namespace kiln::ir {

std::string to_string(const Expr& e);
std::string to_string(const Stmt& s);  // one statement per line, each ending in '\n'
std::string to_string(const Kernel& kernel);

std::ostream& operator<<(std::ostream& os, Type type);
std::ostream& operator<<(std::ostream& os, const Expr& e);
std::ostream& operator<<(std::ostream& os, const Stmt& s);
std::ostream& operator<<(std::ostream& os, const Kernel& kernel);

}  // namespace kiln::ir
