// Statements of the loop IR: what a schedule makes of a compute definition.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernel/ir/expr.h"

namespace kiln::ir {

enum class StmtKind : uint8_t { For, Store, LetStmt, IfThenElse, Allocate, Barrier, Block };

struct StmtNode {
  explicit StmtNode(StmtKind k) : kind(k) {}
  virtual ~StmtNode() = default;
  const StmtKind kind;
};

class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(std::shared_ptr<const StmtNode> node) : node_(std::move(node)) {}
  bool defined() const { return node_.get() != nullptr; }
  const StmtNode* get() const { return node_.get(); }
  const StmtNode* operator->() const { return node_.get(); }
  StmtKind kind() const { return node_->kind; }
  bool same_as(const Stmt& other) const { return node_ == other.node_; }
  template <typename T> const T* as() const {
    return node_ && node_->kind == T::kKind ? static_cast<const T*>(node_.get()) : nullptr;
  }

 private:
  std::shared_ptr<const StmtNode> node_;
};

// How a loop runs. Gpu kinds carry the grid/block dimension (0 = x, 1 = y, 2 = z) in `gpu_dim`.
enum class ForKind : uint8_t { Serial, Parallel, Vectorized, Unrolled, GpuBlock, GpuThread };
const char* for_kind_name(ForKind kind);

// for (var = min; var < min + extent; ++var) body. A Vectorized or Unrolled loop has a constant
// extent; a GpuThread loop's extent is the work-group size along its dimension.
struct For : StmtNode {
  static constexpr StmtKind kKind = StmtKind::For;
  For(std::string v, Expr mn, Expr ext, ForKind k, int d, Stmt b)
      : StmtNode(kKind), var(std::move(v)), min(std::move(mn)), extent(std::move(ext)), for_kind(k), gpu_dim(d), body(std::move(b)) {}
  static Stmt make(std::string var, Expr min, Expr extent, ForKind kind, Stmt body, int gpu_dim = 0);
  const std::string var;  // an i64 variable
  const Expr min, extent;
  const ForKind for_kind;
  const int gpu_dim;
  const Stmt body;
};

// buffer[index] = value; a vector index stores one element per lane.
struct Store : StmtNode {
  static constexpr StmtKind kKind = StmtKind::Store;
  Store(std::string b, Expr i, Expr v) : StmtNode(kKind), buffer(std::move(b)), index(std::move(i)), value(std::move(v)) {}
  static Stmt make(std::string buffer, Expr index, Expr value);
  const std::string buffer;
  const Expr index, value;
};

// let name = value in body.
struct LetStmt : StmtNode {
  static constexpr StmtKind kKind = StmtKind::LetStmt;
  LetStmt(std::string n, Expr v, Stmt b) : StmtNode(kKind), name(std::move(n)), value(std::move(v)), body(std::move(b)) {}
  static Stmt make(std::string name, Expr value, Stmt body);
  const std::string name;
  const Expr value;
  const Stmt body;
};

struct IfThenElse : StmtNode {
  static constexpr StmtKind kKind = StmtKind::IfThenElse;
  IfThenElse(Expr c, Stmt t, Stmt e) : StmtNode(kKind), condition(std::move(c)), then_case(std::move(t)), else_case(std::move(e)) {}
  static Stmt make(Expr condition, Stmt then_case, Stmt else_case = Stmt());
  const Expr condition;
  const Stmt then_case, else_case;  // else_case may be undefined
};

// Where a temporary lives: Register (a few values, promoted to registers), Local (private
// per thread), Shared (per GPU work-group), Global (device memory, given by the runtime).
enum class MemoryScope : uint8_t { Register, Local, Shared, Global };
const char* memory_scope_name(MemoryScope scope);

// A temporary buffer of `size` elements, live within body. Register, Local and Shared sizes are
// constants.
struct Allocate : StmtNode {
  static constexpr StmtKind kKind = StmtKind::Allocate;
  Allocate(std::string n, Type t, Expr s, MemoryScope sc, Stmt b)
      : StmtNode(kKind), name(std::move(n)), element_type(t), size(std::move(s)), scope(sc), body(std::move(b)) {}
  static Stmt make(std::string name, Type element_type, Expr size, MemoryScope scope, Stmt body);
  const std::string name;
  const Type element_type;
  const Expr size;
  const MemoryScope scope;
  const Stmt body;
};

// Work-group barrier: every thread of the group waits here; shared memory writes before it are
// visible after it.
struct Barrier : StmtNode {
  static constexpr StmtKind kKind = StmtKind::Barrier;
  Barrier() : StmtNode(kKind) {}
  static Stmt make();
};

// Statements run in order.
struct Block : StmtNode {
  static constexpr StmtKind kKind = StmtKind::Block;
  explicit Block(std::vector<Stmt> s) : StmtNode(kKind), stmts(std::move(s)) {}
  static Stmt make(std::vector<Stmt> stmts);  // flattens nested blocks; one statement stays itself
  const std::vector<Stmt> stmts;
};

}  // namespace kiln::ir
