#include "codegen/llvm/cpu_jit.h"

#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>

#include <llvm/ExecutionEngine/Orc/AbsoluteSymbols.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>

#include "base/error.h"
#include "base/thread_pool.h"

namespace kiln::codegen {

namespace {

class JitSession : public std::enable_shared_from_this<JitSession> {
 public:
  static std::shared_ptr<JitSession> instance() {
    static const std::shared_ptr<JitSession> session(new JitSession());
    return session;
  }

  CpuCode load(std::string_view object, const std::string& entry_symbol);
  void unload(llvm::orc::JITDylib& dylib);

 private:
  JitSession();

  std::mutex mutex_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  uint64_t dylibs_created_ = 0;
};

// What CpuCode::owner holds: the object's JITDylib, and the session that must outlive it.
class LoadedObject {
 public:
  LoadedObject(std::shared_ptr<JitSession> session, llvm::orc::JITDylib& dylib)
      : session_(std::move(session)), dylib_(dylib) {}
  ~LoadedObject() { session_->unload(dylib_); }
  LoadedObject(const LoadedObject&) = delete;
  LoadedObject& operator=(const LoadedObject&) = delete;

 private:
  std::shared_ptr<JitSession> session_;
  llvm::orc::JITDylib& dylib_;
};

JitSession::JitSession() {
  initialize_native_target();
  auto jit = llvm::orc::LLJITBuilder().create();
  if (!jit) internal_error_at(__FILE__, __LINE__, "cannot start the JIT: " + llvm::toString(jit.takeError()));
  jit_ = std::move(*jit);

  // What compiled kernels call, resolved here rather than through the dynamic symbol table:
  // kiln_parallel_for lives in the executable, which does not export it.
  llvm::orc::SymbolMap symbols;
  auto define = [&](const char* name, auto* address) {
    symbols[jit_->mangleAndIntern(name)] = llvm::orc::ExecutorSymbolDef(
        llvm::orc::ExecutorAddr::fromPtr(address), llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
  };
  using Unary = double (*)(double);
  using UnaryF = float (*)(float);
  define("kiln_parallel_for", &kiln_parallel_for);
  define("malloc", &::malloc);
  define("free", &::free);
  define("tanhf", static_cast<UnaryF>(&::tanhf));
  define("erff", static_cast<UnaryF>(&::erff));
  define("tanh", static_cast<Unary>(&::tanh));
  define("erf", static_cast<Unary>(&::erf));
  if (llvm::Error error = jit_->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(symbols)))) {
    internal_error_at(__FILE__, __LINE__, "cannot define the kernel runtime symbols: " + llvm::toString(std::move(error)));
  }
}

CpuCode JitSession::load(std::string_view object, const std::string& entry_symbol) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto dylib = jit_->createJITDylib("kiln_kernel_" + std::to_string(dylibs_created_++));
  if (!dylib) internal_error_at(__FILE__, __LINE__, llvm::toString(dylib.takeError()));
  dylib->addToLinkOrder(jit_->getMainJITDylib());

  auto fail = [&](llvm::Error error) {
    std::string message = llvm::toString(std::move(error));
    llvm::consumeError(jit_->getExecutionSession().removeJITDylib(*dylib));
    internal_error_at(__FILE__, __LINE__, "cannot load the code of " + entry_symbol + ": " + message);
  };
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object.data(), object.size()), entry_symbol);
  if (llvm::Error error = jit_->addObjectFile(*dylib, std::move(buffer))) fail(std::move(error));
  auto address = jit_->lookup(*dylib, entry_symbol);  // links the object
  if (!address) fail(address.takeError());

  CpuCode code;
  code.entry = address->toPtr<CpuCode::Entry>();
  code.owner = std::make_shared<LoadedObject>(shared_from_this(), *dylib);
  return code;
}

void JitSession::unload(llvm::orc::JITDylib& dylib) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Nothing to do about a failure here but leak the code.
  llvm::consumeError(jit_->getExecutionSession().removeJITDylib(dylib));
}

}  // namespace

void initialize_native_target() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

CpuCode load_host_object(std::string_view object, const std::string& entry_symbol) {
  return JitSession::instance()->load(object, entry_symbol);
}

}  // namespace kiln::codegen
