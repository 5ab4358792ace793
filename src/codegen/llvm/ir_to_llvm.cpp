#include "codegen/llvm/ir_to_llvm.h"

#include "codegen/llvm/dot_product.h"
#include "kernel/ir/dot_chain.h"
#include "kernel/ir/possible_bits.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string_view>

#include <llvm/Analysis/VectorUtils.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Metadata.h>

#include "base/error.h"

namespace kiln::codegen {

namespace {

// Loop metadata carrying one hint, e.g. !{!"llvm.loop.unroll.full"}.
llvm::MDNode* loop_metadata(llvm::LLVMContext& context, std::string_view hint) {
  std::vector<llvm::Metadata*> hint_operands{llvm::MDString::get(context, hint)};
  if (hint == "llvm.loop.vectorize.enable") {
    hint_operands.push_back(llvm::ConstantAsMetadata::get(llvm::ConstantInt::getTrue(context)));
  }
  llvm::Metadata* operands[] = {nullptr, llvm::MDNode::get(context, hint_operands)};
  llvm::MDNode* loop_id = llvm::MDNode::getDistinct(context, operands);
  loop_id->replaceOperandWith(0, loop_id);  // a loop id refers to itself
  return loop_id;
}

}  // namespace

LlvmEmitter::LlvmEmitter(llvm::Module& module, const ir::Kernel& kernel,
                         std::vector<std::pair<std::string, std::string>> function_attributes,
                         bool fast_math)
    : context_(module.getContext()),
      module_(module),
      kernel_(kernel),
      builder_(module.getContext()),
      function_attributes_(std::move(function_attributes)),
      fast_math_(fast_math) {
  llvm::FastMathFlags flags;
  if (fast_math_) {
    flags.setFast();
  } else {
    // A multiply feeding an add may become one fused multiply-add (one rounding instead of
    // two), as C compilers do by default; nothing else departs from IEEE arithmetic.
    flags.setAllowContract(true);
  }
  builder_.setFastMathFlags(flags);
}

// --- types, functions, scopes -------------------------------------------------------------

llvm::Type* LlvmEmitter::value_type(ir::Type type) {
  llvm::Type* scalar = nullptr;
  switch (type.kind) {
    case ir::TypeKind::Bool: scalar = builder_.getInt1Ty(); break;
    case ir::TypeKind::Int:
    case ir::TypeKind::UInt: scalar = builder_.getIntNTy(type.bits); break;
    case ir::TypeKind::Float:
      if (type.bits == 16) scalar = builder_.getHalfTy();
      else if (type.bits == 32) scalar = builder_.getFloatTy();
      else if (type.bits == 64) scalar = builder_.getDoubleTy();
      break;
  }
  KILN_CHECK(scalar != nullptr, "no LLVM type for {}", ir::to_string(type));
  return type.lanes > 1 ? llvm::FixedVectorType::get(scalar, type.lanes) : scalar;
}

llvm::Type* LlvmEmitter::memory_type(ir::Type element_type) {
  KILN_CHECK(element_type.lanes == 1, "buffer element type {} is a vector", ir::to_string(element_type));
  return element_type.is_bool() ? builder_.getInt8Ty() : value_type(element_type);
}

llvm::Function* LlvmEmitter::create_function(const std::string& name, llvm::FunctionType* type,
                                             llvm::GlobalValue::LinkageTypes linkage) {
  llvm::Function* function = llvm::Function::Create(type, linkage, name, module_);
  for (const auto& [key, value] : function_attributes_) function->addFnAttr(key, value);
  function->addFnAttr(llvm::Attribute::NoUnwind);
  return function;
}

llvm::AllocaInst* LlvmEmitter::create_entry_alloca(llvm::Type* type, uint64_t count,
                                                   const std::string& name) {
  llvm::BasicBlock& entry = function_->getEntryBlock();
  llvm::IRBuilder<> entry_builder(&entry, entry.begin());
  llvm::AllocaInst* alloca = entry_builder.CreateAlloca(type, entry_builder.getInt64(count), name);
  // Arrays of a cache line or more start on one (vector loads of them do not split).
  const llvm::DataLayout& layout = module_.getDataLayout();
  const bool large = layout.getTypeAllocSize(type) * count >= 64;
  alloca->setAlignment(std::max(layout.getPrefTypeAlign(type), llvm::Align(large ? 64 : 1)));
  return alloca;
}

void LlvmEmitter::bind_value(const std::string& name, llvm::Value* value, llvm::Value* dense_base) {
  values_[name].push_back({value, dense_base});
}

void LlvmEmitter::unbind_value(const std::string& name) {
  auto it = values_.find(name);
  KILN_CHECK(it != values_.end() && !it->second.empty(), "unbinding unbound {}", name);
  it->second.pop_back();
  if (it->second.empty()) values_.erase(it);
}

void LlvmEmitter::bind_buffer(const std::string& name, llvm::Value* pointer, ir::Type element_type) {
  buffers_[name].push_back({pointer, element_type});
}

void LlvmEmitter::unbind_buffer(const std::string& name) {
  auto it = buffers_.find(name);
  KILN_CHECK(it != buffers_.end() && !it->second.empty(), "unbinding unbound buffer {}", name);
  it->second.pop_back();
  if (it->second.empty()) buffers_.erase(it);
}

const LlvmEmitter::BufferBinding& LlvmEmitter::find_buffer(const std::string& name) const {
  auto it = buffers_.find(name);
  KILN_CHECK(it != buffers_.end(), "kernel {} uses buffer {}, which is neither a parameter nor allocated",
             kernel_.name, name);
  return it->second.back();
}

// --- expressions ---------------------------------------------------------------------------

llvm::Value* LlvmEmitter::emit(const ir::Expr& expr) {
  KILN_CHECK(expr.defined(), "null expression in kernel {}", kernel_.name);
  switch (expr.kind()) {
    case ir::ExprKind::IntImm: {
      const auto* op = expr.as<ir::IntImm>();
      if (op->type.is_bool()) return builder_.getInt1(op->value != 0);
      return llvm::ConstantInt::get(value_type(op->type), static_cast<uint64_t>(op->value),
                                    op->type.is_int());
    }
    case ir::ExprKind::FloatImm: {
      const auto* op = expr.as<ir::FloatImm>();
      return llvm::ConstantFP::get(value_type(op->type), op->value);
    }
    case ir::ExprKind::Var: {
      const auto* op = expr.as<ir::Var>();
      auto it = values_.find(op->name);
      KILN_CHECK(it != values_.end(), "kernel {} uses {}, which is not bound here", kernel_.name, op->name);
      llvm::Value* value = it->second.back().value;
      KILN_CHECK(value->getType() == value_type(op->type), "{} is used as {} but bound to another type",
                 op->name, ir::to_string(op->type));
      return value;
    }
    case ir::ExprKind::Cast: return emit_cast(*expr.as<ir::Cast>());
    case ir::ExprKind::Reinterpret: {
      const auto* op = expr.as<ir::Reinterpret>();
      return builder_.CreateBitCast(emit(op->value), value_type(op->type));
    }
    case ir::ExprKind::Binary: return emit_binary(*expr.as<ir::Binary>());
    case ir::ExprKind::Not: return builder_.CreateNot(emit(expr.as<ir::Not>()->value));
    case ir::ExprKind::Select: {
      const auto* op = expr.as<ir::Select>();
      llvm::Value* condition = emit(op->condition);
      llvm::Value* true_value = emit(op->true_value);
      return builder_.CreateSelect(condition, true_value, emit(op->false_value));
    }
    case ir::ExprKind::Load: return emit_load(*expr.as<ir::Load>());
    case ir::ExprKind::Ramp: return emit_ramp(*expr.as<ir::Ramp>());
    case ir::ExprKind::Broadcast: {
      const auto* op = expr.as<ir::Broadcast>();
      return builder_.CreateVectorSplat(op->lanes, emit(op->value));
    }
    case ir::ExprKind::Call: return emit_call(*expr.as<ir::Call>());
    case ir::ExprKind::Access:
      internal_error_at(__FILE__, __LINE__,
                        fmt::format("kernel {} still reads tensor {} by Access; lowering must replace it "
                                    "by Loads before code generation",
                                    kernel_.name, expr.as<ir::Access>()->tensor));
  }
  internal_error_at(__FILE__, __LINE__, "unknown expression kind");
}

llvm::Value* LlvmEmitter::emit_binary(const ir::Binary& op) {
  llvm::Value* a = emit(op.a);
  llvm::Value* b = emit(op.b);
  const ir::Type type = op.a.type();
  const bool is_float = type.is_float();
  const bool is_signed = type.is_int();
  // Signed overflow of i32/i64 is undefined (as in C): lets LLVM reason about index math.
  const bool nsw = is_signed && type.bits >= 32;
  auto& irb = builder_;
  switch (op.op) {
    case ir::BinaryOp::Add: return is_float ? irb.CreateFAdd(a, b) : irb.CreateAdd(a, b, "", false, nsw);
    case ir::BinaryOp::Sub: return is_float ? irb.CreateFSub(a, b) : irb.CreateSub(a, b, "", false, nsw);
    case ir::BinaryOp::Mul: return is_float ? irb.CreateFMul(a, b) : irb.CreateMul(a, b, "", false, nsw);
    case ir::BinaryOp::Div:
      return is_float ? irb.CreateFDiv(a, b) : is_signed ? irb.CreateSDiv(a, b) : irb.CreateUDiv(a, b);
    case ir::BinaryOp::Mod:
      return is_float ? irb.CreateFRem(a, b) : is_signed ? irb.CreateSRem(a, b) : irb.CreateURem(a, b);
    // Float min/max ignore a NaN operand, as C's fminf/fmaxf and OpenCL's fmin/fmax do.
    case ir::BinaryOp::Min:
      if (is_float) return irb.CreateMinNum(a, b);
      return irb.CreateBinaryIntrinsic(is_signed ? llvm::Intrinsic::smin : llvm::Intrinsic::umin, a, b);
    case ir::BinaryOp::Max:
      if (is_float) return irb.CreateMaxNum(a, b);
      return irb.CreateBinaryIntrinsic(is_signed ? llvm::Intrinsic::smax : llvm::Intrinsic::umax, a, b);
    // Ordered float comparisons, except != which is true for NaN (as in C).
    case ir::BinaryOp::EQ: return is_float ? irb.CreateFCmpOEQ(a, b) : irb.CreateICmpEQ(a, b);
    case ir::BinaryOp::NE: return is_float ? irb.CreateFCmpUNE(a, b) : irb.CreateICmpNE(a, b);
    case ir::BinaryOp::LT:
      return is_float ? irb.CreateFCmpOLT(a, b) : is_signed ? irb.CreateICmpSLT(a, b) : irb.CreateICmpULT(a, b);
    case ir::BinaryOp::LE:
      return is_float ? irb.CreateFCmpOLE(a, b) : is_signed ? irb.CreateICmpSLE(a, b) : irb.CreateICmpULE(a, b);
    case ir::BinaryOp::GT:
      return is_float ? irb.CreateFCmpOGT(a, b) : is_signed ? irb.CreateICmpSGT(a, b) : irb.CreateICmpUGT(a, b);
    case ir::BinaryOp::GE:
      return is_float ? irb.CreateFCmpOGE(a, b) : is_signed ? irb.CreateICmpSGE(a, b) : irb.CreateICmpUGE(a, b);
    case ir::BinaryOp::And:
    case ir::BinaryOp::BitAnd: return irb.CreateAnd(a, b);
    case ir::BinaryOp::Or:
    case ir::BinaryOp::BitOr: return irb.CreateOr(a, b);
    case ir::BinaryOp::BitXor: return irb.CreateXor(a, b);
    case ir::BinaryOp::Shl: return irb.CreateShl(a, b);
    case ir::BinaryOp::Shr: return is_signed ? irb.CreateAShr(a, b) : irb.CreateLShr(a, b);
  }
  internal_error_at(__FILE__, __LINE__, "unknown binary operator");
}

llvm::Value* LlvmEmitter::emit_cast(const ir::Cast& op) {
  llvm::Value* value = emit(op.value);
  const ir::Type from = op.value.type();
  const ir::Type to = op.type;
  llvm::Type* target = value_type(to);
  if (to.is_bool()) {
    llvm::Value* zero = llvm::Constant::getNullValue(value->getType());
    return from.is_float() ? builder_.CreateFCmpUNE(value, zero) : builder_.CreateICmpNE(value, zero);
  }
  if (from.is_float()) {
    if (to.is_float()) return builder_.CreateFPCast(value, target);
    return to.is_int() ? builder_.CreateFPToSI(value, target) : builder_.CreateFPToUI(value, target);
  }
  // From an integer or a bool (which widens as 0 or 1).
  if (to.is_float()) {
    return from.is_int() ? builder_.CreateSIToFP(value, target) : builder_.CreateUIToFP(value, target);
  }
  return builder_.CreateIntCast(value, target, from.is_int());
}

llvm::Value* LlvmEmitter::emit_ramp(const ir::Ramp& op) {
  llvm::Value* base = emit(op.base);
  llvm::Value* stride = emit(op.stride);
  const ir::Type type = op.base.type();
  std::vector<llvm::Constant*> lane_numbers;
  for (int lane = 0; lane < op.lanes; ++lane) {
    lane_numbers.push_back(type.is_float() ? llvm::ConstantFP::get(base->getType(), lane)
                                           : llvm::ConstantInt::get(base->getType(), lane));
  }
  llvm::Value* lanes = llvm::ConstantVector::get(lane_numbers);
  llvm::Value* bases = builder_.CreateVectorSplat(op.lanes, base);
  llvm::Value* strides = builder_.CreateVectorSplat(op.lanes, stride);
  if (type.is_float()) return builder_.CreateFAdd(bases, builder_.CreateFMul(strides, lanes));
  const bool nsw = type.is_int() && type.bits >= 32;
  return builder_.CreateAdd(bases, builder_.CreateMul(strides, lanes, "", false, nsw), "", false, nsw);
}

bool LlvmEmitter::is_dense(const ir::Expr& index) const {
  if (index.type().lanes == 1 || !index.type().is_integer()) return false;
  switch (index.kind()) {
    case ir::ExprKind::Ramp: {
      const int64_t* stride = ir::as_const_int(index.as<ir::Ramp>()->stride);
      return stride && *stride == 1;
    }
    case ir::ExprKind::Var: {
      auto it = values_.find(index.as<ir::Var>()->name);
      return it != values_.end() && it->second.back().dense_base != nullptr;
    }
    case ir::ExprKind::Binary: {
      const auto* op = index.as<ir::Binary>();
      if (op->op == ir::BinaryOp::Add) {
        return (op->a.as<ir::Broadcast>() && is_dense(op->b)) || (is_dense(op->a) && op->b.as<ir::Broadcast>());
      }
      return op->op == ir::BinaryOp::Sub && is_dense(op->a) && op->b.as<ir::Broadcast>();
    }
    default: return false;
  }
}

llvm::Value* LlvmEmitter::emit_dense_base(const ir::Expr& index) {
  const bool nsw = index.type().is_int() && index.type().bits >= 32;
  switch (index.kind()) {
    case ir::ExprKind::Ramp: return emit(index.as<ir::Ramp>()->base);
    case ir::ExprKind::Var: return values_.at(index.as<ir::Var>()->name).back().dense_base;
    case ir::ExprKind::Binary: {
      const auto* op = index.as<ir::Binary>();
      if (op->op == ir::BinaryOp::Add && op->a.as<ir::Broadcast>() && is_dense(op->b)) {
        llvm::Value* offset = emit(op->a.as<ir::Broadcast>()->value);
        return builder_.CreateAdd(offset, emit_dense_base(op->b), "", false, nsw);
      }
      llvm::Value* base = emit_dense_base(op->a);
      llvm::Value* offset = emit(op->b.as<ir::Broadcast>()->value);
      return op->op == ir::BinaryOp::Add ? builder_.CreateAdd(base, offset, "", false, nsw)
                                         : builder_.CreateSub(base, offset, "", false, nsw);
    }
    default: break;
  }
  internal_error_at(__FILE__, __LINE__, "emit_dense_base of an index that is not dense");
}

namespace {

// A vector of indices that is one scalar plus constants per lane, as a vectorized index often
// is once LLVM has folded its constant parts (four bytes at 4 (g % 4), lanes g: the base plus
// <0, 1, 2, 3, 4, .., 15, 0, 1, ..>).
struct SplatPlusConstants {
  llvm::Value* scalar = nullptr;  // null: zero
  std::vector<int64_t> offsets;
};

std::optional<SplatPlusConstants> splat_plus_constants(llvm::Value* v, unsigned lanes, llvm::IRBuilder<>& builder) {
  if (auto* constant = llvm::dyn_cast<llvm::Constant>(v)) {
    SplatPlusConstants result;
    for (unsigned l = 0; l < lanes; ++l) {
      auto* lane = llvm::dyn_cast_or_null<llvm::ConstantInt>(constant->getAggregateElement(l));
      if (lane == nullptr) return std::nullopt;
      result.offsets.push_back(lane->getSExtValue());
    }
    return result;
  }
  if (llvm::Value* scalar = llvm::getSplatValue(v)) return SplatPlusConstants{scalar, std::vector<int64_t>(lanes, 0)};
  auto* add = llvm::dyn_cast<llvm::BinaryOperator>(v);
  if (add == nullptr || add->getOpcode() != llvm::Instruction::Add) return std::nullopt;
  std::optional<SplatPlusConstants> a = splat_plus_constants(add->getOperand(0), lanes, builder);
  std::optional<SplatPlusConstants> b = a ? splat_plus_constants(add->getOperand(1), lanes, builder) : std::nullopt;
  if (!b) return std::nullopt;
  for (unsigned l = 0; l < lanes; ++l) a->offsets[l] += b->offsets[l];
  if (a->scalar == nullptr) a->scalar = b->scalar;
  else if (b->scalar != nullptr) a->scalar = builder.CreateAdd(a->scalar, b->scalar);
  return a;
}

}  // namespace

llvm::Value* LlvmEmitter::address_of(const std::string& buffer, const ir::Expr& index, ir::Type accessed_type,
                                     AccessKind& kind, ir::Type& element_type, std::vector<int>* window) {
  const BufferBinding& binding = find_buffer(buffer);
  element_type = binding.element_type;
  KILN_CHECK(binding.element_type == accessed_type.element_of(), "buffer {} holds {} but is accessed as {}",
             buffer, ir::to_string(binding.element_type), ir::to_string(accessed_type));
  llvm::Type* element = memory_type(binding.element_type);
  // GEP indices are signed: widen narrower indices to i64 by their own signedness first.
  auto address = [&](llvm::Value* offset, ir::Type offset_type) {
    offset = builder_.CreateIntCast(offset, value_type(ir::Type::i64().with_lanes(offset_type.lanes)),
                                    offset_type.is_int());
    return builder_.CreateInBoundsGEP(element, binding.pointer, offset);
  };
  const ir::Type index_type = index.type();
  if (index_type.lanes == 1) {
    kind = AccessKind::Scalar;
    return address(emit(index), index_type);
  }
  if (is_dense(index)) {
    kind = AccessKind::Dense;
    return address(emit_dense_base(index), index_type.element_of());
  }
  if (const auto* broadcast = index.as<ir::Broadcast>()) {
    kind = AccessKind::Broadcast;
    return address(emit(broadcast->value), index_type.element_of());
  }
  llvm::Value* offsets = emit(index);
  if (window != nullptr && !binding.element_type.is_bool()) {
    // Lanes at constant offsets from one index, close together: the window they span, loaded
    // whole; `window` receives each lane's place in it.
    std::optional<SplatPlusConstants> parts = splat_plus_constants(offsets, index_type.lanes, builder_);
    if (parts) {
      const auto [low, high] = std::minmax_element(parts->offsets.begin(), parts->offsets.end());
      if (*high - *low < 4 * static_cast<int64_t>(index_type.lanes)) {
        window->clear();
        for (int64_t offset : parts->offsets) window->push_back(static_cast<int>(offset - *low));
        llvm::Value* first = llvm::ConstantInt::get(builder_.getInt64Ty(), *low);
        if (parts->scalar != nullptr) {
          first = builder_.CreateAdd(builder_.CreateIntCast(parts->scalar, builder_.getInt64Ty(), index_type.is_int()), first);
        }
        kind = AccessKind::Window;
        return address(first, ir::Type::i64());
      }
    }
  }
  kind = AccessKind::Gather;
  return address(offsets, index_type);  // a vector of addresses
}


llvm::Value* LlvmEmitter::emit_load(const ir::Load& op) {
  AccessKind kind;
  ir::Type element_type;
  std::vector<int> window;
  llvm::Value* address = address_of(op.buffer, op.index, op.type, kind, element_type, &window);
  llvm::Type* element = memory_type(element_type);
  const llvm::Align align(element_type.bytes());
  const unsigned lanes = op.type.lanes;
  llvm::Value* value = nullptr;
  switch (kind) {
    case AccessKind::Scalar: value = builder_.CreateAlignedLoad(element, address, align); break;
    case AccessKind::Dense:
      value = builder_.CreateAlignedLoad(llvm::FixedVectorType::get(element, lanes), address, align);
      break;
    case AccessKind::Broadcast:
      value = builder_.CreateVectorSplat(lanes, builder_.CreateAlignedLoad(element, address, align));
      break;
    case AccessKind::Gather:
      value = builder_.CreateMaskedGather(llvm::FixedVectorType::get(element, lanes), address, align);
      break;
    case AccessKind::Window: {
      const unsigned span = static_cast<unsigned>(*std::max_element(window.begin(), window.end()) + 1);
      value = builder_.CreateShuffleVector(
          builder_.CreateAlignedLoad(llvm::FixedVectorType::get(element, span), address, align), window);
      break;
    }
  }
  if (element_type.is_bool()) value = builder_.CreateICmpNE(value, llvm::Constant::getNullValue(value->getType()));
  return value;
}

void LlvmEmitter::emit_store(const ir::Store& op) {
  AccessKind kind;
  ir::Type element_type;
  llvm::Value* address = address_of(op.buffer, op.index, op.value.type(), kind, element_type);
  llvm::Value* value = emit(op.value);
  if (element_type.is_bool()) {
    value = builder_.CreateZExt(value, value_type(ir::Type::u8().with_lanes(op.value.type().lanes)));
  }
  const llvm::Align align(element_type.bytes());
  switch (kind) {
    case AccessKind::Scalar:
    case AccessKind::Dense: builder_.CreateAlignedStore(value, address, align); return;
    case AccessKind::Broadcast: {
      // Every lane writes the same element; the last one is what remains.
      const uint64_t last = op.value.type().lanes - 1;
      builder_.CreateAlignedStore(builder_.CreateExtractElement(value, last), address, align);
      return;
    }
    case AccessKind::Gather: builder_.CreateMaskedScatter(value, address, align); return;
    case AccessKind::Window: KILN_UNREACHABLE("a store asked for a window");
  }
}

llvm::Value* LlvmEmitter::emit_call(const ir::Call& op) {
  if (op.op == ir::Intrinsic::DotU8S8) return emit_dot_chain(op);
  std::vector<llvm::Value*> args;
  for (const ir::Expr& arg : op.args) args.push_back(emit(arg));
  switch (op.op) {
    case ir::Intrinsic::ReduceAdd:
    case ir::Intrinsic::ReduceMax:
    case ir::Intrinsic::ReduceMin: return emit_reduce(op.op, args[0], op.args[0].type());
    case ir::Intrinsic::DotS8S8:
      return emit_dot_product(builder_, subtarget_, op.op, args[0], args[1], args[2], op.type.lanes);
    case ir::Intrinsic::F16BitsToF32: {
      const ir::Type half = ir::Type::f16().with_lanes(op.type.lanes);
      return builder_.CreateFPExt(builder_.CreateBitCast(args[0], value_type(half)), value_type(op.type));
    }
    default: return emit_math(op.op, args, op.type);
  }
}

// acc + dot(a1, b1) + dot(a2, b2) + ...: the DotU8S8 calls nested in acc, emitted as one chain
// so that the back end may add them in narrower integers where the bytes' bounds allow.
llvm::Value* LlvmEmitter::emit_dot_chain(const ir::Call& op) {
  const ir::DotChain chain = ir::unfold_dot_chain(&op);
  llvm::Value* acc = emit(chain.start);
  std::vector<DotTerm> terms;
  for (const ir::Call* dot : chain.terms) {
    terms.push_back({emit(dot->args[1]), emit(dot->args[2]), ir::max_byte(dot->args[1])});
  }
  return codegen::emit_dot_chain(builder_, subtarget_, acc, terms, op.type.lanes);
}

llvm::Value* LlvmEmitter::emit_reduce(ir::Intrinsic op, llvm::Value* vector, ir::Type vector_type) {
  if (vector_type.lanes == 1) return vector;
  const ir::Type element = vector_type.element_of();
  switch (op) {
    case ir::Intrinsic::ReduceAdd: {
      if (!element.is_float()) return builder_.CreateAddReduce(vector);
      // A sum in any order (a tree of vector adds), even without fast math.
      llvm::IRBuilderBase::FastMathFlagGuard guard(builder_);
      llvm::FastMathFlags flags = builder_.getFastMathFlags();
      flags.setAllowReassoc();
      builder_.setFastMathFlags(flags);
      return builder_.CreateFAddReduce(llvm::ConstantFP::getNegativeZero(value_type(element)), vector);
    }
    case ir::Intrinsic::ReduceMax:
      return element.is_float() ? builder_.CreateFPMaxReduce(vector)
                                : builder_.CreateIntMaxReduce(vector, element.is_int());
    case ir::Intrinsic::ReduceMin:
      return element.is_float() ? builder_.CreateFPMinReduce(vector)
                                : builder_.CreateIntMinReduce(vector, element.is_int());
    default: break;
  }
  internal_error_at(__FILE__, __LINE__, "not a reduction");
}

llvm::Value* LlvmEmitter::emit_math(ir::Intrinsic op, const std::vector<llvm::Value*>& args,
                                    ir::Type type) {
  llvm::Value* x = args[0];
  switch (op) {
    case ir::Intrinsic::Exp:
      if (type.element_of() == ir::Type::f32()) {
        if (type.lanes > 1) return vector_expf(x);
        // A scalar goes through the same code as one lane, so that vector bodies and their
        // scalar remainders agree (and libm's expf is not called at all).
        llvm::Type* one_lane = llvm::FixedVectorType::get(x->getType(), 1);
        llvm::Value* lane = builder_.CreateInsertElement(llvm::PoisonValue::get(one_lane), x, uint64_t{0});
        return builder_.CreateExtractElement(vector_expf(lane), uint64_t{0});
      }
      return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::exp, x);
    case ir::Intrinsic::Log: return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::log, x);
    case ir::Intrinsic::Sqrt: return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
    case ir::Intrinsic::Sin: return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::sin, x);
    case ir::Intrinsic::Cos: return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::cos, x);
    case ir::Intrinsic::Floor: return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::floor, x);
    case ir::Intrinsic::Pow: return builder_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, x, args[1]);
    case ir::Intrinsic::Rsqrt:
      return builder_.CreateFDiv(llvm::ConstantFP::get(x->getType(), 1.0),
                                 builder_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x));
    case ir::Intrinsic::Abs:
      if (type.is_float()) return builder_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
      if (type.is_int()) return builder_.CreateIntrinsic(llvm::Intrinsic::abs, {x->getType()}, {x, builder_.getFalse()});
      return x;
    case ir::Intrinsic::Tanh: return call_libm_per_lane("tanhf", "tanh", x, type);
    case ir::Intrinsic::Erf: return call_libm_per_lane("erff", "erf", x, type);
    default: break;
  }
  internal_error_at(__FILE__, __LINE__, fmt::format("intrinsic {} has no lowering", ir::intrinsic_name(op)));
}

// exp(x) for f32 lanes: 2^n * e^r with n = round(x / ln 2) and |r| <= ln(2) / 2: r computed in
// two parts of ln 2 (Cody-Waite), e^r by a degree-7 polynomial (Cephes' expf coefficients, relative
// error about 1e-7), and 2^n applied as two exact powers of two so that results down to the
// subnormals come out right. Inputs past the ends saturate to 0 and +inf; NaN stays NaN.
llvm::Value* LlvmEmitter::vector_expf(llvm::Value* x) {
  auto* vector_type = llvm::cast<llvm::VectorType>(x->getType());
  auto constant = [&](double v) { return llvm::ConstantFP::get(vector_type, v); };
  llvm::Type* int_type = llvm::VectorType::get(builder_.getInt32Ty(), vector_type->getElementCount());
  auto int_constant = [&](int32_t v) { return llvm::ConstantInt::get(int_type, static_cast<uint64_t>(static_cast<int64_t>(v)), true); };
  // Below -104, exp(x) is under half the smallest subnormal; above 88.73 it overflows.
  llvm::Value* clamped = builder_.CreateBinaryIntrinsic(
      llvm::Intrinsic::minnum, builder_.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, x, constant(-104.0)),
      constant(88.73));
  llvm::Value* n = builder_.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven,
                                                 builder_.CreateFMul(clamped, constant(1.44269504088896341)));
  llvm::Value* r = builder_.CreateFSub(clamped, builder_.CreateFMul(n, constant(0.693359375)));
  r = builder_.CreateFSub(r, builder_.CreateFMul(n, constant(-2.12194440e-4)));
  llvm::Value* p = constant(1.9875691500e-4);
  for (double c : {1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1}) {
    p = builder_.CreateFAdd(builder_.CreateFMul(p, r), constant(c));
  }
  llvm::Value* e_r = builder_.CreateFAdd(builder_.CreateFAdd(builder_.CreateFMul(p, builder_.CreateFMul(r, r)), r), constant(1.0));
  // 2^n = 2^half * 2^(n - half), each a normal float for n in [-150, 128].
  llvm::Value* n_int = builder_.CreateFPToSI(n, int_type);
  llvm::Value* half = builder_.CreateAShr(n_int, int_constant(1));
  auto power_of_two = [&](llvm::Value* e) {
    return builder_.CreateBitCast(builder_.CreateShl(builder_.CreateAdd(e, int_constant(127)), int_constant(23)), vector_type);
  };
  llvm::Value* result = builder_.CreateFMul(builder_.CreateFMul(e_r, power_of_two(half)),
                                            power_of_two(builder_.CreateSub(n_int, half)));
  result = builder_.CreateSelect(builder_.CreateFCmpOLT(x, constant(-104.0)), constant(0.0), result);
  result = builder_.CreateSelect(builder_.CreateFCmpOGT(x, constant(88.73)),
                                 constant(std::numeric_limits<double>::infinity()), result);
  return builder_.CreateSelect(builder_.CreateFCmpUNO(x, x), x, result);
}

llvm::Value* LlvmEmitter::call_libm_per_lane(const char* f32_name, const char* f64_name, llvm::Value* x,
                                             ir::Type type) {
  const ir::Type element = type.element_of();
  llvm::Type* element_type = value_type(element);
  const bool is_f64 = element.bits == 64;
  llvm::Type* call_type = is_f64 ? builder_.getDoubleTy() : builder_.getFloatTy();
  llvm::FunctionCallee callee = module_.getOrInsertFunction(
      is_f64 ? f64_name : f32_name, llvm::FunctionType::get(call_type, {call_type}, false));
  if (auto* function = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    function->setDoesNotThrow();
    function->setDoesNotAccessMemory();  // neither sets errno
    function->setWillReturn();
  }
  auto call_one = [&](llvm::Value* lane) -> llvm::Value* {
    llvm::Value* result = builder_.CreateCall(callee, {builder_.CreateFPCast(lane, call_type)});
    return builder_.CreateFPCast(result, element_type);
  };
  if (type.lanes == 1) return call_one(x);
  llvm::Value* result = llvm::PoisonValue::get(value_type(type));
  for (uint64_t lane = 0; lane < type.lanes; ++lane) {
    result = builder_.CreateInsertElement(result, call_one(builder_.CreateExtractElement(x, lane)), lane);
  }
  return result;
}

// --- statements ----------------------------------------------------------------------------

void LlvmEmitter::emit(const ir::Stmt& stmt) {
  KILN_CHECK(stmt.defined(), "null statement in kernel {}", kernel_.name);
  switch (stmt.kind()) {
    case ir::StmtKind::For: emit_for(*stmt.as<ir::For>()); return;
    case ir::StmtKind::Store: emit_store(*stmt.as<ir::Store>()); return;
    case ir::StmtKind::LetStmt: emit_let(*stmt.as<ir::LetStmt>()); return;
    case ir::StmtKind::IfThenElse: emit_if(*stmt.as<ir::IfThenElse>()); return;
    case ir::StmtKind::Allocate: emit_allocate(*stmt.as<ir::Allocate>()); return;
    case ir::StmtKind::Barrier: emit_barrier(); return;
    case ir::StmtKind::Block:
      for (const ir::Stmt& inner : stmt.as<ir::Block>()->stmts) emit(inner);
      return;
  }
}

void LlvmEmitter::emit_for(const ir::For& loop) {
  switch (loop.for_kind) {
    case ir::ForKind::Serial: emit_serial_loop(loop, nullptr); return;
    case ir::ForKind::Unrolled: emit_serial_loop(loop, "llvm.loop.unroll.full"); return;
    // The vectorize pass turns these into vector code first; one that is left, LLVM may still
    // vectorize.
    case ir::ForKind::Vectorized: emit_serial_loop(loop, "llvm.loop.vectorize.enable"); return;
    case ir::ForKind::Parallel: emit_parallel_for(loop); return;
    case ir::ForKind::GpuBlock:
    case ir::ForKind::GpuThread: emit_gpu_for(loop); return;
  }
}

void LlvmEmitter::emit_serial_loop(const ir::For& loop, const char* loop_hint) {
  llvm::Value* min = emit(loop.min);
  llvm::Value* end = builder_.CreateAdd(min, emit(loop.extent), loop.var + ".end", false, true);
  llvm::BasicBlock* preheader = builder_.GetInsertBlock();
  llvm::BasicBlock* body = llvm::BasicBlock::Create(context_, loop.var + ".loop", function_);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(context_, loop.var + ".exit", function_);
  builder_.CreateCondBr(builder_.CreateICmpSLT(min, end), body, exit);

  builder_.SetInsertPoint(body);
  llvm::PHINode* var = builder_.CreatePHI(builder_.getInt64Ty(), 2, loop.var);
  var->addIncoming(min, preheader);
  bind_value(loop.var, var);
  emit(loop.body);
  unbind_value(loop.var);
  llvm::Value* next = builder_.CreateAdd(var, builder_.getInt64(1), loop.var + ".next", false, true);
  var->addIncoming(next, builder_.GetInsertBlock());
  llvm::BranchInst* back_edge = builder_.CreateCondBr(builder_.CreateICmpSLT(next, end), body, exit);
  if (loop_hint) back_edge->setMetadata(llvm::LLVMContext::MD_loop, loop_metadata(context_, loop_hint));
  builder_.SetInsertPoint(exit);
}

void LlvmEmitter::emit_if(const ir::IfThenElse& op) {
  llvm::Value* condition = emit(op.condition);
  llvm::BasicBlock* then_block = llvm::BasicBlock::Create(context_, "then", function_);
  llvm::BasicBlock* else_block =
      op.else_case.defined() ? llvm::BasicBlock::Create(context_, "else", function_) : nullptr;
  llvm::BasicBlock* merge = llvm::BasicBlock::Create(context_, "endif", function_);
  builder_.CreateCondBr(condition, then_block, else_block ? else_block : merge);
  builder_.SetInsertPoint(then_block);
  emit(op.then_case);
  builder_.CreateBr(merge);
  if (else_block) {
    builder_.SetInsertPoint(else_block);
    emit(op.else_case);
    builder_.CreateBr(merge);
  }
  builder_.SetInsertPoint(merge);
}

void LlvmEmitter::emit_let(const ir::LetStmt& op) {
  llvm::Value* value = emit(op.value);
  if (!llvm::isa<llvm::Constant>(value) && !value->hasName()) value->setName(op.name);
  bind_value(op.name, value, is_dense(op.value) ? emit_dense_base(op.value) : nullptr);
  emit(op.body);
  unbind_value(op.name);
}

void LlvmEmitter::emit_allocate(const ir::Allocate& allocate) {
  KILN_CHECK(allocate.scope == ir::MemoryScope::Register || allocate.scope == ir::MemoryScope::Local,
             "{} allocation {} is not supported by this target", ir::memory_scope_name(allocate.scope),
             allocate.name);
  const int64_t* count = ir::as_const_int(allocate.size);
  KILN_CHECK(count && *count > 0, "allocation {} needs a positive constant size", allocate.name);
  llvm::AllocaInst* memory =
      create_entry_alloca(memory_type(allocate.element_type), static_cast<uint64_t>(*count), allocate.name);
  bind_buffer(allocate.name, memory, allocate.element_type);
  emit(allocate.body);
  unbind_buffer(allocate.name);
}

}  // namespace kiln::codegen
