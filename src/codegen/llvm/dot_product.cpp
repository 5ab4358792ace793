#include "codegen/llvm/dot_product.h"

#include <algorithm>
#include <vector>

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/Module.h>

#include "kernel/ir/dot_chain.h"

namespace kiln::codegen {
namespace {

bool has(const llvm::MCSubtargetInfo* subtarget, const char* features) {
  return subtarget != nullptr && subtarget->checkFeatures(features);
}

// A call of a target intrinsic, each argument bitcast to the parameter type it declares (the
// element types of x86 intrinsics differ between LLVM versions; their widths do not).
llvm::Value* call_intrinsic(llvm::IRBuilder<>& builder, llvm::Intrinsic::ID id, std::vector<llvm::Value*> args) {
  llvm::Module* module = builder.GetInsertBlock()->getModule();
  llvm::Function* function = llvm::Intrinsic::getOrInsertDeclaration(module, id);
  llvm::FunctionType* type = function->getFunctionType();
  for (size_t i = 0; i < args.size(); ++i) args[i] = builder.CreateBitCast(args[i], type->getParamType(static_cast<unsigned>(i)));
  return builder.CreateCall(function, args);
}

llvm::Type* i32_lanes(llvm::IRBuilder<>& builder, int lanes) {
  llvm::Type* i32 = builder.getInt32Ty();
  return lanes == 1 ? i32 : llvm::FixedVectorType::get(i32, static_cast<unsigned>(lanes));
}

llvm::Value* as_bytes(llvm::IRBuilder<>& builder, llvm::Value* packed, int lanes) {
  return builder.CreateBitCast(packed, llvm::FixedVectorType::get(builder.getInt8Ty(), static_cast<unsigned>(4 * lanes)));
}

// Bytes widened to i32, multiplied, and each lane's four products added to acc.
llvm::Value* widened_dot(llvm::IRBuilder<>& builder, bool a_signed, llvm::Value* acc, llvm::Value* a, llvm::Value* b,
                         int lanes) {
  llvm::Type* wide = llvm::FixedVectorType::get(builder.getInt32Ty(), static_cast<unsigned>(4 * lanes));
  llvm::Value* a8 = as_bytes(builder, a, lanes);
  llvm::Value* products = builder.CreateMul(a_signed ? builder.CreateSExt(a8, wide) : builder.CreateZExt(a8, wide),
                                            builder.CreateSExt(as_bytes(builder, b, lanes), wide));
  llvm::Value* sum = acc;
  for (int q = 0; q < 4; ++q) {
    std::vector<int> pick;
    for (int l = 0; l < lanes; ++l) pick.push_back(4 * l + q);
    llvm::Value* part = lanes == 1 ? builder.CreateExtractElement(products, static_cast<uint64_t>(q))
                                   : builder.CreateShuffleVector(products, pick);
    sum = builder.CreateAdd(sum, part);
  }
  return sum;
}

bool has_vnni(const llvm::MCSubtargetInfo* subtarget, int lanes) {
  return (has(subtarget, "+avx512vnni") && (lanes == 16 || has(subtarget, "+avx512vl"))) ||
         (has(subtarget, "+avxvnni") && lanes != 16);
}

bool has_madd(const llvm::MCSubtargetInfo* subtarget, int lanes) {
  return (lanes == 4 && has(subtarget, "+ssse3")) || (lanes == 8 && has(subtarget, "+avx2")) ||
         (lanes == 16 && has(subtarget, "+avx512bw"));
}

llvm::Intrinsic::ID byte_pairs_to_i16(int lanes) {
  return lanes == 4 ? llvm::Intrinsic::x86_ssse3_pmadd_ub_sw_128
         : lanes == 8 ? llvm::Intrinsic::x86_avx2_pmadd_ub_sw
                      : llvm::Intrinsic::x86_avx512_pmaddubs_w_512;
}

llvm::Intrinsic::ID i16_pairs_to_i32(int lanes) {
  return lanes == 4 ? llvm::Intrinsic::x86_sse2_pmadd_wd
         : lanes == 8 ? llvm::Intrinsic::x86_avx2_pmadd_wd
                      : llvm::Intrinsic::x86_avx512_pmaddw_d_512;
}

// acc + the i16 pair sums `sums16` added in pairs to i32 (pmaddwd by ones).
llvm::Value* widen_pairs_onto(llvm::IRBuilder<>& builder, llvm::Value* acc, llvm::Value* sums16, int lanes) {
  llvm::Value* ones = llvm::ConstantInt::get(sums16->getType(), 1);
  llvm::Value* sums32 =
      builder.CreateBitCast(call_intrinsic(builder, i16_pairs_to_i32(lanes), {sums16, ones}), i32_lanes(builder, lanes));
  return builder.CreateAdd(acc, sums32);
}

}  // namespace

llvm::Value* emit_dot_product(llvm::IRBuilder<>& builder, const llvm::MCSubtargetInfo* subtarget, ir::Intrinsic op,
                              llvm::Value* acc, llvm::Value* a, llvm::Value* b, int lanes) {
  const bool vnni = has_vnni(subtarget, lanes);
  const bool madd = has_madd(subtarget, lanes);
  if (lanes == 1 || (!(vnni && (lanes == 4 || lanes == 8 || lanes == 16)) && !madd)) {
    return widened_dot(builder, op == ir::Intrinsic::DotS8S8, acc, a, b, lanes);
  }
  if (op == ir::Intrinsic::DotS8S8) {
    // a * b == |a| * (b with a's sign); |-128| is 128 as an unsigned byte, and b never -128.
    llvm::Value* a8 = as_bytes(builder, a, lanes);
    llvm::Value* b8 = as_bytes(builder, b, lanes);
    if (!vnni && lanes != 16) {
      // psignb: b negated where a < 0 and zeroed where a == 0 (where |a| is 0 too), one
      // instruction where a compare and a select took two or three.
      const llvm::Intrinsic::ID sign = lanes == 4 ? llvm::Intrinsic::x86_ssse3_psign_b_128 : llvm::Intrinsic::x86_avx2_psign_b;
      b = builder.CreateBitCast(call_intrinsic(builder, sign, {b8, a8}), i32_lanes(builder, lanes));
    } else {
      llvm::Value* negative = builder.CreateICmpSLT(a8, llvm::Constant::getNullValue(a8->getType()));
      b = builder.CreateBitCast(builder.CreateSelect(negative, builder.CreateNeg(b8), b8), i32_lanes(builder, lanes));
    }
    a = builder.CreateBitCast(builder.CreateIntrinsic(llvm::Intrinsic::abs, {a8->getType()}, {a8, builder.getFalse()}),
                              i32_lanes(builder, lanes));
  }
  if (vnni) {
    const llvm::Intrinsic::ID id = lanes == 4   ? llvm::Intrinsic::x86_avx512_vpdpbusd_128
                                   : lanes == 8 ? llvm::Intrinsic::x86_avx512_vpdpbusd_256
                                                : llvm::Intrinsic::x86_avx512_vpdpbusd_512;
    return builder.CreateBitCast(call_intrinsic(builder, id, {acc, a, b}), i32_lanes(builder, lanes));
  }
  // pmaddubsw sums byte products in pairs into i16, saturating; exact here, as a pair is at most
  // 2 * 127 * 128 = 32512 in magnitude (a's bytes at most 127 for DotU8S8; |a| at most 128
  // and b above -128 for DotS8S8). pmaddwd by ones sums the pairs to i32.
  return widen_pairs_onto(builder, acc, call_intrinsic(builder, byte_pairs_to_i16(lanes), {a, b}), lanes);
}

llvm::Value* emit_dot_chain(llvm::IRBuilder<>& builder, const llvm::MCSubtargetInfo* subtarget, llvm::Value* acc,
                            const std::vector<DotTerm>& terms, int lanes) {
  if (lanes == 1 || has_vnni(subtarget, lanes) || !has_madd(subtarget, lanes)) {
    for (const DotTerm& t : terms) acc = emit_dot_product(builder, subtarget, ir::Intrinsic::DotU8S8, acc, t.a, t.b, lanes);
    return acc;
  }
  // Runs of terms whose pairs' bounds fit in i16 together (b's bytes down to -128).
  std::vector<int> a_max;
  for (const DotTerm& t : terms) a_max.push_back(t.a_max);
  size_t next = 0;
  for (const int run_length : ir::i16_runs(a_max)) {
    llvm::Value* run = nullptr;
    for (int i = 0; i < run_length; ++i, ++next) {
      llvm::Value* pairs = call_intrinsic(builder, byte_pairs_to_i16(lanes), {terms[next].a, terms[next].b});
      run = run == nullptr ? pairs : builder.CreateAdd(run, pairs);
    }
    acc = widen_pairs_onto(builder, acc, run, lanes);
  }
  return acc;
}

}  // namespace kiln::codegen
