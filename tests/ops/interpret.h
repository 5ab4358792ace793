// A test-only interpreter of compute definitions: loops over each stage's axes (and reduction
// axes, combined in order from the identity), evaluating the Expr trees in the types they carry
// (f32 arithmetic in float, integers as ir::fold_int defines them), a batch of points at a
// time. An Access of an input is expanded with load_element and reads the input's bytes; an
// output is written through encode_element. So it checks the definitions and dequant_expr.h
// together, before any lowering or code generation.
//
// Both sides of every select are evaluated, and every load and stage read is bounds-checked:
// an out-of-bounds read throws std::runtime_error, naming the buffer and the index; so does an
// integer operation with no value (overflow of a signed type, division by zero).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernel/compute/compute_def.h"

namespace kiln::test {

// The bytes of each output of `def`, in def.outputs order: storage_type(dtype) elements,
// row-major. `inputs` holds each input's bytes by name; `sizes` binds every size parameter.
std::vector<std::vector<uint8_t>> interpret(const kernel::ComputeDef& def, const std::map<std::string, int64_t>& sizes,
                                            const std::map<std::string, const std::vector<uint8_t>*>& inputs);

}  // namespace kiln::test
