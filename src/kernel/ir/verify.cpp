#include "kernel/ir/verify.h"

#include <map>
#include <set>

#include "base/error.h"
#include "kernel/ir/printer.h"
#include "kernel/ir/visitor.h"

namespace kiln::ir {
namespace {

// What is in scope at a statement, copied down as the walk descends.
struct Scope {
  std::set<std::string> vars;
  std::map<std::string, bool> buffers;  // name -> writable
  std::set<std::string> thread_varying;  // variables that differ between threads of a work-group
  bool in_cpu_loop = false;              // inside a serial, parallel, vectorized or unrolled loop
  bool in_thread_loop = false;
  const For* thread_loop = nullptr;      // the innermost GPU thread loop
  bool thread_divergent = false;         // under a condition or in a loop that varies by thread
};

class Verifier {
 public:
  Verifier(const Kernel& kernel, const std::string& pass) : kernel_(kernel), pass_(pass) {}

  void run() {
    spmd_ = has_gpu_ids(kernel_.body);
    gpu_ = contains_gpu_loops(kernel_.body) || spmd_;
    Scope scope;
    for (const std::string& s : kernel_.size_params) scope.vars.insert(s);
    for (const BufferParam& b : kernel_.buffers) scope.buffers[b.name] = b.is_output;
    check(kernel_.body, scope);
  }

 private:
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    internal_error_at(__FILE__, __LINE__,
                      fmt::format("loop IR of kernel '{}' after pass '{}': {}", kernel_.name, pass_,
                                  fmt::format(format, std::forward<Args>(args)...)));
  }

  static bool has_gpu_ids(const Stmt& s) {
    class Find : public IRVisitor {
     public:
      bool found = false;
     protected:
      using IRVisitor::visit;
      void visit(const Call* op) override {
        found = found || op->op == Intrinsic::GpuBlockId || op->op == Intrinsic::GpuThreadId;
        IRVisitor::visit(op);
      }
    } find;
    find.walk(s);
    return find.found;
  }

  // The free variables of `e`, each checked against the scope; true if one varies by thread.
  bool check_expr(const Expr& e, const Scope& scope) const {
    if (!e.defined()) return false;
    class Walk : public IRVisitor {
     public:
      Walk(const Verifier& v, const Scope& s) : v_(v), s_(s) {}
      bool varying = false;
     protected:
      using IRVisitor::visit;
      void visit(const Var* op) override {
        if (!s_.vars.count(op->name)) v_.fail("variable '{}' is read where nothing defines it", op->name);
        varying = varying || s_.thread_varying.count(op->name) > 0;
      }
      void visit(const Load* op) override {
        if (!s_.buffers.count(op->buffer)) v_.fail("load from '{}', which is neither a parameter nor allocated", op->buffer);
        if (op->index.type().lanes != op->type.lanes) {
          v_.fail("load from '{}' has {} lanes but an index of {}", op->buffer, op->type.lanes, op->index.type().lanes);
        }
        IRVisitor::visit(op);
      }
      void visit(const Access* op) override { v_.fail("tensor access '{}' left after lowering", op->tensor); }
      void visit(const Call* op) override {
        varying = varying || op->op == Intrinsic::GpuThreadId;
        IRVisitor::visit(op);
      }
     private:
      const Verifier& v_;
      const Scope& s_;
    } walk(*this, scope);
    walk.walk(e);
    return walk.varying;
  }

  static bool is_gpu(ForKind k) { return k == ForKind::GpuBlock || k == ForKind::GpuThread; }

  void check_for(const For* op, Scope scope) {
    const bool min_varies = check_expr(op->min, scope);
    const bool extent_varies = check_expr(op->extent, scope);
    if ((op->for_kind == ForKind::Vectorized || op->for_kind == ForKind::Unrolled) && !as_const_int(op->extent)) {
      fail("{} loop '{}' has extent {}, not a constant", for_kind_name(op->for_kind), op->var, to_string(op->extent));
    }
    if (is_gpu(op->for_kind)) {
      if (!gpu_) fail("GPU loop '{}' in a CPU kernel", op->var);
      if (scope.in_cpu_loop) fail("GPU loop '{}' inside a serial or CPU loop", op->var);
      if (op->for_kind == ForKind::GpuBlock && scope.in_thread_loop) {
        fail("gpu_block loop '{}' inside a gpu_thread loop", op->var);
      }
      if (op->gpu_dim < 0 || op->gpu_dim > 2) fail("GPU loop '{}' on dimension {}", op->var, op->gpu_dim);
    } else {
      scope.in_cpu_loop = true;
    }
    if (op->for_kind == ForKind::GpuThread) {
      scope.in_thread_loop = true;
      scope.thread_loop = op;
      scope.thread_varying.insert(op->var);
    } else if (min_varies || extent_varies) {
      scope.thread_varying.insert(op->var);
      scope.thread_divergent = true;  // threads run different numbers of iterations
    }
    scope.vars.insert(op->var);
    check(op->body, scope);
  }

  void check_barrier(const Scope& scope) const {
    if (!gpu_) fail("barrier in a CPU kernel");
    if (scope.thread_divergent) fail("barrier under a condition or in a loop that differs between threads");
    const For* loop = scope.thread_loop;
    if (spmd_) return;  // every thread runs the whole body: reaching it is being non-divergent
    if (loop == nullptr) {
      // Outside the thread loops only a work-group of one thread reaches it as one.
      for (const Expr& size : kernel_.block) {
        const int64_t* n = as_const_int(size);
        if (!n || *n != 1) fail("barrier outside the thread loops of a work-group of {} threads", to_string(size));
      }
      return;
    }
    if (loop->gpu_dim < static_cast<int>(kernel_.block.size())) {
      const Expr& launched = kernel_.block[loop->gpu_dim];
      const int64_t* a = as_const_int(launched);
      const int64_t* b = as_const_int(loop->extent);
      if (!(a && b && *a == *b)) {
        fail("barrier in thread loop '{}' of extent {}, but the work-group is {} along dimension {}: some threads "
             "would not reach it", loop->var, to_string(loop->extent), to_string(launched), loop->gpu_dim);
      }
    }
  }

  void check(const Stmt& s, const Scope& scope) {
    if (!s.defined()) return;
    switch (s.kind()) {
      case StmtKind::For: return check_for(s.as<For>(), scope);
      case StmtKind::Store: {
        const Store* op = s.as<Store>();
        auto it = scope.buffers.find(op->buffer);
        if (it == scope.buffers.end()) fail("store to '{}', which is neither a parameter nor allocated", op->buffer);
        if (!it->second) fail("store to input '{}'", op->buffer);
        check_expr(op->index, scope);
        check_expr(op->value, scope);
        if (op->index.type().lanes != op->value.type().lanes) {
          fail("store to '{}' has a value of {} lanes at an index of {}", op->buffer, op->value.type().lanes,
               op->index.type().lanes);
        }
        return;
      }
      case StmtKind::LetStmt: {
        const LetStmt* op = s.as<LetStmt>();
        Scope inner = scope;
        if (check_expr(op->value, scope)) inner.thread_varying.insert(op->name);
        else inner.thread_varying.erase(op->name);
        inner.vars.insert(op->name);
        return check(op->body, inner);
      }
      case StmtKind::IfThenElse: {
        const IfThenElse* op = s.as<IfThenElse>();
        Scope inner = scope;
        if (check_expr(op->condition, scope)) inner.thread_divergent = true;
        check(op->then_case, inner);
        return check(op->else_case, inner);
      }
      case StmtKind::Allocate: {
        const Allocate* op = s.as<Allocate>();
        check_expr(op->size, scope);
        if (op->scope != MemoryScope::Global) {
          const int64_t* size = as_const_int(op->size);
          if (!size || *size <= 0) fail("{} allocation '{}' of size {}", memory_scope_name(op->scope), op->name, to_string(op->size));
        }
        if (op->scope == MemoryScope::Shared && !gpu_) fail("shared allocation '{}' in a CPU kernel", op->name);
        Scope inner = scope;
        inner.buffers[op->name] = true;
        return check(op->body, inner);
      }
      case StmtKind::Barrier: return check_barrier(scope);
      case StmtKind::Block:
        for (const Stmt& c : s.as<Block>()->stmts) check(c, scope);
        return;
    }
  }

  const Kernel& kernel_;
  const std::string& pass_;
  bool gpu_ = false;
  bool spmd_ = false;  // GPU loops mapped to ids (the gpu_ids pass)
};

}  // namespace

void verify(const Kernel& kernel, const std::string& after_pass) { Verifier(kernel, after_pass).run(); }

}  // namespace kiln::ir
