// The loop IR's packed-byte dot products (ir::Intrinsic::DotU8S8, DotS8S8) as LLVM IR: an
// intrinsic table from the instructions the target has to the ones that compute the product.
#pragma once

#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/MC/MCSubtargetInfo.h>

#include "kernel/ir/expr.h"

namespace kiln::codegen {

// acc + dot(a, b) on i32 lanes (`lanes` of them) of four packed bytes each. `subtarget` says
// which instructions exist (null: none assumed). The table, best entry first:
//   AVX-512 VNNI / AVX-VNNI  vpdpbusd on 4, 8 (or 16 with AVX-512) lanes
//   AVX2 (AVX-512 BW for 16) pmaddubsw then pmaddwd by ones, plus acc
//   anything else            bytes widened to i32, multiplied and summed in fours
// DotS8S8 becomes DotU8S8 of |a| and b with a's signs (psignb), exact while b has no -128.
llvm::Value* emit_dot_product(llvm::IRBuilder<>& builder, const llvm::MCSubtargetInfo* subtarget, ir::Intrinsic op,
                              llvm::Value* acc, llvm::Value* a, llvm::Value* b, int lanes);

// One product of a chain acc + dot(a1, b1) + dot(a2, b2) + ... of DotU8S8: a's bytes are at
// most a_max (what the loop IR proves of them), b's are signed.
struct DotTerm {
  llvm::Value* a;
  llvm::Value* b;
  int a_max;
};

// The chain's sum on i32 lanes. Where the target adds byte pairs to i16 (pmaddubsw) but has no
// byte dot product into i32, consecutive terms whose pair sums together fit in i16 are added
// there (one vpaddw each), and only each run's total is widened by pmaddwd: two instructions
// a term where three were. Elsewhere each term is emit_dot_product's.
llvm::Value* emit_dot_chain(llvm::IRBuilder<>& builder, const llvm::MCSubtargetInfo* subtarget, llvm::Value* acc,
                            const std::vector<DotTerm>& terms, int lanes);

}  // namespace kiln::codegen
