// Loop IR -> LLVM IR: the expression and statement emitter that every LLVM back end shares.
//
// A target subclasses LlvmEmitter, builds the kernel's functions and overrides the hooks for
// what differs between targets: parallel and GPU loops, barriers, allocations outside registers,
// math functions. Names are scoped as in the IR (a Var is found by name; an inner binding
// hides an outer one until its scope ends).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/MC/MCSubtargetInfo.h>

#include "kernel/ir/kernel.h"

namespace kiln::codegen {

class LlvmEmitter {
 public:
  // `function_attributes` (e.g. "target-cpu") are set on every function the emitter creates.
  LlvmEmitter(llvm::Module& module, const ir::Kernel& kernel,
              std::vector<std::pair<std::string, std::string>> function_attributes, bool fast_math);
  virtual ~LlvmEmitter() = default;
  LlvmEmitter(const LlvmEmitter&) = delete;
  LlvmEmitter& operator=(const LlvmEmitter&) = delete;
  // The instructions the code may use beyond LLVM's generic ones (packed-byte dot products);
  // without it those are computed from generic instructions.
  void use_subtarget(const llvm::MCSubtargetInfo* subtarget) { subtarget_ = subtarget; }

 protected:
  struct ValueBinding {
    llvm::Value* value = nullptr;
    // For a vector of consecutive integers (a let-bound ramp): its first lane, so loads and
    // stores indexed by the name stay single vector accesses.
    llvm::Value* dense_base = nullptr;
  };
  struct BufferBinding {
    llvm::Value* pointer = nullptr;
    ir::Type element_type;
  };

  // Emits `stmt` / `expr` at the builder's insertion point, inside function_.
  void emit(const ir::Stmt& stmt);
  llvm::Value* emit(const ir::Expr& expr);

  // Target hooks.
  virtual void emit_parallel_for(const ir::For& loop) = 0;
  virtual void emit_gpu_for(const ir::For& loop) = 0;
  virtual void emit_barrier() = 0;
  // Register and Local scopes become allocas here; other scopes are the target's.
  virtual void emit_allocate(const ir::Allocate& allocate);
  // exp, log, ...: LLVM intrinsics, with tanh and erf as libm calls per lane.
  virtual llvm::Value* emit_math(ir::Intrinsic op, const std::vector<llvm::Value*>& args,
                                 ir::Type type);

  // Types: value_type of a bool is i1; memory_type (a buffer element) of a bool is i8.
  llvm::Type* value_type(ir::Type type);
  llvm::Type* memory_type(ir::Type element_type);

  // A function carrying the emitter's attributes.
  llvm::Function* create_function(const std::string& name, llvm::FunctionType* type,
                                  llvm::GlobalValue::LinkageTypes linkage);
  // An alloca of `count` elements in the entry block of function_ (so SROA/mem2reg promote it).
  llvm::AllocaInst* create_entry_alloca(llvm::Type* type, uint64_t count, const std::string& name);

  // A serial loop over [min, min + extent) with optional loop metadata ("llvm.loop.unroll.full").
  void emit_serial_loop(const ir::For& loop, const char* loop_hint);

  void bind_value(const std::string& name, llvm::Value* value, llvm::Value* dense_base = nullptr);
  void unbind_value(const std::string& name);
  void bind_buffer(const std::string& name, llvm::Value* pointer, ir::Type element_type);
  void unbind_buffer(const std::string& name);

  llvm::LLVMContext& context_;
  llvm::Module& module_;
  const ir::Kernel& kernel_;
  llvm::IRBuilder<> builder_;
  llvm::Function* function_ = nullptr;  // the function being emitted
  const llvm::MCSubtargetInfo* subtarget_ = nullptr;
  // Scoped bindings, innermost last. Ordered maps, so emitted code is deterministic.
  std::map<std::string, std::vector<ValueBinding>> values_;
  std::map<std::string, std::vector<BufferBinding>> buffers_;

 private:
  llvm::Value* emit_binary(const ir::Binary& op);
  llvm::Value* emit_cast(const ir::Cast& op);
  llvm::Value* emit_ramp(const ir::Ramp& op);
  llvm::Value* emit_load(const ir::Load& op);
  llvm::Value* emit_call(const ir::Call& op);
  llvm::Value* emit_dot_chain(const ir::Call& op);
  llvm::Value* emit_reduce(ir::Intrinsic op, llvm::Value* vector, ir::Type vector_type);
  // exp of a vector of f32 in vector instructions (libm would be called once per lane); scalars
  // go through it as one lane.
  llvm::Value* vector_expf(llvm::Value* x);
  llvm::Value* call_libm_per_lane(const char* f32_name, const char* f64_name, llvm::Value* x,
                                  ir::Type type);
  void emit_store(const ir::Store& op);
  void emit_for(const ir::For& loop);
  void emit_if(const ir::IfThenElse& op);
  void emit_let(const ir::LetStmt& op);

  // Whether the vector `index` is consecutive integers (lane k = lane 0 + k): a stride-1 Ramp,
  // such a vector plus or minus a Broadcast, or a name let-bound to one. The vectorize pass
  // leaves indices like broadcast(i * k) + ramp(r, 1, 16); these must not become gathers.
  bool is_dense(const ir::Expr& index) const;
  llvm::Value* emit_dense_base(const ir::Expr& index);  // lane 0 of a dense index

  // The address of each lane of `index` in `buffer`, or a single address for a scalar, dense
  // or broadcast index. `kind` says which.
  // Window: a gather whose lanes lie close together at constant offsets from one index (four
  // bytes at 4 (g % 4) for lanes g), loaded whole and shuffled; only where `window` is given
  // (loads), which receives each lane's place in it.
  enum class AccessKind { Scalar, Dense, Broadcast, Gather, Window };
  llvm::Value* address_of(const std::string& buffer, const ir::Expr& index, ir::Type accessed_type,
                          AccessKind& kind, ir::Type& element_type, std::vector<int>* window = nullptr);
  const BufferBinding& find_buffer(const std::string& name) const;

  std::vector<std::pair<std::string, std::string>> function_attributes_;
  bool fast_math_;
};

}  // namespace kiln::codegen
