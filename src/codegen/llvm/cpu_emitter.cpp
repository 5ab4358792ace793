#include "codegen/llvm/cpu_emitter.h"

#include <functional>

#include "base/error.h"
#include "codegen/llvm/ir_to_llvm.h"
#include "codegen/llvm/names_used.h"

namespace kiln::codegen {

namespace {

// Each piece of code that binds names (the kernel, each parallel loop body) is emitted into an
// internal function whose parameters are those names, buffer pointers marked noalias. A thin
// caller unpacks its arguments and calls it; the inliner folds the two together and turns the
// noalias parameters into alias scopes, so loads and stores of distinct buffers reorder freely.
class CpuEmitter : public LlvmEmitter {
 public:
  using LlvmEmitter::LlvmEmitter;

  void emit_kernel();

 protected:
  void emit_parallel_for(const ir::For& loop) override;
  void emit_gpu_for(const ir::For& loop) override;
  void emit_barrier() override;
  void emit_allocate(const ir::Allocate& allocate) override;

 private:
  struct Param {
    std::string name;
    llvm::Type* type = nullptr;
    bool is_buffer = false;
    ir::Type element_type;  // buffers only
  };

  // `define internal void @name(params...)`, with `body` emitted where the params are bound.
  llvm::Function* emit_body_function(const std::string& name, const std::vector<Param>& params,
                                     const std::function<void()>& body);

  int parallel_loops_ = 0;
};

void CpuEmitter::emit_kernel() {
  KILN_CHECK(!kernel_.name.empty(), "a kernel needs a name");
  std::vector<Param> params;
  for (const ir::BufferParam& buffer : kernel_.buffers) {
    params.push_back({buffer.name, builder_.getPtrTy(), true, buffer.element_type});
  }
  for (const std::string& size : kernel_.size_params) params.push_back({size, builder_.getInt64Ty(), false, {}});
  llvm::Function* body = emit_body_function(kernel_.name + ".body", params, [&] { emit(kernel_.body); });

  llvm::Function* entry = create_function(
      cpu_entry_symbol(kernel_.name), llvm::FunctionType::get(builder_.getVoidTy(), {builder_.getPtrTy(), builder_.getPtrTy()}, false),
      llvm::GlobalValue::ExternalLinkage);
  llvm::Value* buffers = entry->getArg(0);
  llvm::Value* sizes = entry->getArg(1);
  buffers->setName("buffers");
  sizes->setName("sizes");
  function_ = entry;
  builder_.SetInsertPoint(llvm::BasicBlock::Create(context_, "entry", entry));
  std::vector<llvm::Value*> args;
  for (size_t i = 0; i < kernel_.buffers.size(); ++i) {
    llvm::Value* slot = builder_.CreateConstInBoundsGEP1_64(builder_.getPtrTy(), buffers, i);
    args.push_back(builder_.CreateAlignedLoad(builder_.getPtrTy(), slot, llvm::Align(8), kernel_.buffers[i].name));
  }
  for (size_t i = 0; i < kernel_.size_params.size(); ++i) {
    llvm::Value* slot = builder_.CreateConstInBoundsGEP1_64(builder_.getInt64Ty(), sizes, i);
    args.push_back(builder_.CreateAlignedLoad(builder_.getInt64Ty(), slot, llvm::Align(8), kernel_.size_params[i]));
  }
  builder_.CreateCall(body, args);
  builder_.CreateRetVoid();
}

llvm::Function* CpuEmitter::emit_body_function(const std::string& name, const std::vector<Param>& params,
                                               const std::function<void()>& body) {
  std::vector<llvm::Type*> types;
  for (const Param& param : params) types.push_back(param.type);
  llvm::Function* function = create_function(name, llvm::FunctionType::get(builder_.getVoidTy(), types, false),
                                              llvm::GlobalValue::InternalLinkage);
  function->addFnAttr(llvm::Attribute::AlwaysInline);

  // A fresh scope: only the parameters are visible inside.
  llvm::IRBuilderBase::InsertPointGuard insert_point_guard(builder_);
  llvm::Function* outer_function = std::exchange(function_, function);
  auto outer_values = std::exchange(values_, {});
  auto outer_buffers = std::exchange(buffers_, {});

  builder_.SetInsertPoint(llvm::BasicBlock::Create(context_, "entry", function));
  for (size_t i = 0; i < params.size(); ++i) {
    llvm::Argument* arg = function->getArg(static_cast<unsigned>(i));
    arg->setName(params[i].name);
    if (params[i].is_buffer) {
      // Every buffer of a kernel is distinct memory (the runtime never aliases two bindings).
      function->addParamAttr(static_cast<unsigned>(i), llvm::Attribute::NoAlias);
      function->addParamAttr(static_cast<unsigned>(i), llvm::Attribute::NonNull);
      bind_buffer(params[i].name, arg, params[i].element_type);
    } else {
      bind_value(params[i].name, arg);
    }
  }
  body();
  builder_.CreateRetVoid();

  function_ = outer_function;
  values_ = std::move(outer_values);
  buffers_ = std::move(outer_buffers);
  return function;
}

// parallel for (v = min; v < min + extent; ++v) body   becomes
//   closure = {captured names..., min};  kiln_parallel_for(task, &closure, extent)
// with task(closure, i) calling the body function with the captured names and v = min + i.
void CpuEmitter::emit_parallel_for(const ir::For& loop) {
  llvm::Value* min = emit(loop.min);
  llvm::Value* extent = emit(loop.extent);
  const std::string task_name = kernel_.name + ".par" + std::to_string(parallel_loops_++) + "." + loop.var;

  const std::set<std::string> used = names_used_in(loop.body);
  std::vector<Param> params;
  std::vector<llvm::Value*> captured;
  for (const auto& [name, bindings] : buffers_) {
    if (!used.count(name)) continue;
    params.push_back({name, builder_.getPtrTy(), true, bindings.back().element_type});
    captured.push_back(bindings.back().pointer);
  }
  for (const auto& [name, bindings] : values_) {
    if (!used.count(name) || name == loop.var) continue;
    params.push_back({name, bindings.back().value->getType(), false, {}});
    captured.push_back(bindings.back().value);
  }
  params.push_back({loop.var, builder_.getInt64Ty(), false, {}});
  llvm::Function* body = emit_body_function(task_name + ".body", params, [&] { emit(loop.body); });

  std::vector<llvm::Type*> field_types;
  for (llvm::Value* value : captured) field_types.push_back(value->getType());
  field_types.push_back(builder_.getInt64Ty());  // min
  llvm::StructType* closure_type = llvm::StructType::get(context_, field_types);
  const unsigned min_field = static_cast<unsigned>(captured.size());

  llvm::Function* task = create_function(
      task_name, llvm::FunctionType::get(builder_.getVoidTy(), {builder_.getPtrTy(), builder_.getInt64Ty()}, false),
      llvm::GlobalValue::InternalLinkage);
  {
    llvm::IRBuilder<> task_builder(llvm::BasicBlock::Create(context_, "entry", task));
    llvm::Value* closure = task->getArg(0);
    closure->setName("closure");
    task->getArg(1)->setName("i");
    std::vector<llvm::Value*> args;
    for (unsigned field = 0; field < min_field; ++field) {
      args.push_back(task_builder.CreateLoad(field_types[field], task_builder.CreateStructGEP(closure_type, closure, field),
                                             params[field].name));
    }
    llvm::Value* task_min =
        task_builder.CreateLoad(builder_.getInt64Ty(), task_builder.CreateStructGEP(closure_type, closure, min_field));
    args.push_back(task_builder.CreateAdd(task_min, task->getArg(1), loop.var, false, true));
    task_builder.CreateCall(body, args);
    task_builder.CreateRetVoid();
  }

  llvm::AllocaInst* closure = create_entry_alloca(closure_type, 1, task_name + ".closure");
  for (unsigned field = 0; field < min_field; ++field) {
    builder_.CreateStore(captured[field], builder_.CreateStructGEP(closure_type, closure, field));
  }
  builder_.CreateStore(min, builder_.CreateStructGEP(closure_type, closure, min_field));
  llvm::FunctionCallee parallel_for = module_.getOrInsertFunction(
      "kiln_parallel_for",
      llvm::FunctionType::get(builder_.getVoidTy(), {builder_.getPtrTy(), builder_.getPtrTy(), builder_.getInt64Ty()},
                              false));
  if (auto* declaration = llvm::dyn_cast<llvm::Function>(parallel_for.getCallee())) declaration->setDoesNotThrow();
  builder_.CreateCall(parallel_for, {task, closure, extent});
}

void CpuEmitter::emit_gpu_for(const ir::For& loop) {
  internal_error_at(__FILE__, __LINE__,
                    fmt::format("kernel {} has a {} loop over {}: not a CPU kernel", kernel_.name,
                                ir::for_kind_name(loop.for_kind), loop.var));
}

void CpuEmitter::emit_barrier() {
  internal_error_at(__FILE__, __LINE__,
                    fmt::format("kernel {} has a barrier: not a CPU kernel", kernel_.name));
}

void CpuEmitter::emit_allocate(const ir::Allocate& allocate) {
  if (allocate.scope == ir::MemoryScope::Register || allocate.scope == ir::MemoryScope::Local) {
    LlvmEmitter::emit_allocate(allocate);
    return;
  }
  KILN_CHECK(allocate.scope == ir::MemoryScope::Global, "kernel {} allocates {} in {} memory: not a CPU kernel",
             kernel_.name, allocate.name, ir::memory_scope_name(allocate.scope));
  // Global scratch of a size known only at run time: from the heap, freed when its scope ends.
  llvm::Value* count = builder_.CreateIntCast(emit(allocate.size), builder_.getInt64Ty(), allocate.size.type().is_int());
  const uint64_t element_bytes = module_.getDataLayout().getTypeAllocSize(memory_type(allocate.element_type));
  llvm::Value* bytes = builder_.CreateMul(count, builder_.getInt64(element_bytes), "", false, true);
  llvm::FunctionCallee malloc_function =
      module_.getOrInsertFunction("malloc", llvm::FunctionType::get(builder_.getPtrTy(), {builder_.getInt64Ty()}, false));
  llvm::FunctionCallee free_function =
      module_.getOrInsertFunction("free", llvm::FunctionType::get(builder_.getVoidTy(), {builder_.getPtrTy()}, false));
  llvm::Value* memory = builder_.CreateCall(malloc_function, {bytes}, allocate.name);
  bind_buffer(allocate.name, memory, allocate.element_type);
  emit(allocate.body);
  unbind_buffer(allocate.name);
  builder_.CreateCall(free_function, {memory});
}

}  // namespace

std::string cpu_entry_symbol(const std::string& kernel_name) { return "kiln." + kernel_name; }

void emit_cpu_kernel(llvm::Module& module, const ir::Kernel& kernel,
                     std::vector<std::pair<std::string, std::string>> function_attributes, bool fast_math,
                     const llvm::MCSubtargetInfo* subtarget) {
  CpuEmitter emitter(module, kernel, std::move(function_attributes), fast_math);
  emitter.use_subtarget(subtarget);
  emitter.emit_kernel();
}

}  // namespace kiln::codegen
