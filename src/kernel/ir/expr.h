// Expressions of the loop IR. Nodes are immutable and shared; each has a kind tag for cheap
// dispatch, a result type, and a static make() that checks its invariants.
//
// The same Expr language writes compute definitions (src/kernel/compute), where `Access`
// reads a tensor by multi-dimensional index, and loops (after lowering), where only flat
// `Load`s of named buffers remain.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernel/ir/type.h"

namespace kiln::ir {

enum class ExprKind : uint8_t {
  IntImm, FloatImm, Var, Cast, Reinterpret, Binary, Not, Select, Load, Ramp, Broadcast, Call, Access,
};

struct ExprNode {
  ExprNode(ExprKind k, Type t) : kind(k), type(t) {}
  virtual ~ExprNode() = default;
  const ExprKind kind;
  const Type type;
};

// A handle to an immutable expression node; null means "no expression".
class Expr {
 public:
  Expr() = default;
  explicit Expr(std::shared_ptr<const ExprNode> node) : node_(std::move(node)) {}
  Expr(int64_t value);   // NOLINT: an i64 constant, so `x + 1` reads naturally
  Expr(int value);       // NOLINT
  Expr(double value);    // NOLINT: an f32 constant

  bool defined() const { return node_.get() != nullptr; }
  const ExprNode* get() const { return node_.get(); }
  const ExprNode* operator->() const { return node_.get(); }
  Type type() const { return node_->type; }
  ExprKind kind() const { return node_->kind; }
  bool same_as(const Expr& other) const { return node_ == other.node_; }
  template <typename T> const T* as() const {
    return node_ && node_->kind == T::kKind ? static_cast<const T*>(node_.get()) : nullptr;
  }

 private:
  std::shared_ptr<const ExprNode> node_;
};

// An integer constant (of any integer or bool type).
struct IntImm : ExprNode {
  static constexpr ExprKind kKind = ExprKind::IntImm;
  IntImm(Type t, int64_t v) : ExprNode(kKind, t), value(v) {}
  static Expr make(Type t, int64_t value);
  const int64_t value;
};

// A floating-point constant.
struct FloatImm : ExprNode {
  static constexpr ExprKind kKind = ExprKind::FloatImm;
  FloatImm(Type t, double v) : ExprNode(kKind, t), value(v) {}
  static Expr make(Type t, double value);
  const double value;
};

// A named scalar: a loop variable, a let binding or a symbolic size (kernel parameter).
// Two Vars are the same variable when their names are equal.
struct Var : ExprNode {
  static constexpr ExprKind kKind = ExprKind::Var;
  Var(Type t, std::string n) : ExprNode(kKind, t), name(std::move(n)) {}
  static Expr make(Type t, std::string name);
  const std::string name;
};

// Value conversion (float <-> int, widening, narrowing) to `type`; lanes must match.
struct Cast : ExprNode {
  static constexpr ExprKind kKind = ExprKind::Cast;
  Cast(Type t, Expr v) : ExprNode(kKind, t), value(std::move(v)) {}
  static Expr make(Type t, Expr value);
  const Expr value;
};

// Bit reinterpretation to a type of the same total width (e.g. u32 bits -> f32).
struct Reinterpret : ExprNode {
  static constexpr ExprKind kKind = ExprKind::Reinterpret;
  Reinterpret(Type t, Expr v) : ExprNode(kKind, t), value(std::move(v)) {}
  static Expr make(Type t, Expr value);
  const Expr value;
};

enum class BinaryOp : uint8_t {
  Add, Sub, Mul, Div, Mod, Min, Max,      // Div/Mod on integers round toward zero (C semantics)
  EQ, NE, LT, LE, GT, GE,                 // comparisons give bool
  And, Or,                                // on bools
  BitAnd, BitOr, BitXor, Shl, Shr,        // on integers; Shr is arithmetic for Int, logical for UInt
};
const char* binary_op_name(BinaryOp op);  // "+", "<=", "min", ...
bool is_comparison(BinaryOp op);

// a OP b; both operands have the same type (make() broadcasts a scalar against a vector).
struct Binary : ExprNode {
  static constexpr ExprKind kKind = ExprKind::Binary;
  Binary(Type t, BinaryOp o, Expr x, Expr y) : ExprNode(kKind, t), op(o), a(std::move(x)), b(std::move(y)) {}
  static Expr make(BinaryOp op, Expr a, Expr b);
  const BinaryOp op;
  const Expr a, b;
};

struct Not : ExprNode {
  static constexpr ExprKind kKind = ExprKind::Not;
  Not(Type t, Expr v) : ExprNode(kKind, t), value(std::move(v)) {}
  static Expr make(Expr value);
  const Expr value;
};

// condition ? true_value : false_value, lane by lane.
struct Select : ExprNode {
  static constexpr ExprKind kKind = ExprKind::Select;
  Select(Type t, Expr c, Expr x, Expr y)
      : ExprNode(kKind, t), condition(std::move(c)), true_value(std::move(x)), false_value(std::move(y)) {}
  static Expr make(Expr condition, Expr true_value, Expr false_value);
  const Expr condition, true_value, false_value;
};

// Reads buffer[index] where the buffer holds elements of `type.element_of()`; a vector index
// (a Ramp, or any vector) reads one element per lane.
struct Load : ExprNode {
  static constexpr ExprKind kKind = ExprKind::Load;
  Load(Type t, std::string b, Expr i) : ExprNode(kKind, t), buffer(std::move(b)), index(std::move(i)) {}
  static Expr make(Type element_type, std::string buffer, Expr index);
  const std::string buffer;
  const Expr index;
};

// The vector base, base + stride, ..., base + (lanes - 1) * stride.
struct Ramp : ExprNode {
  static constexpr ExprKind kKind = ExprKind::Ramp;
  Ramp(Type t, Expr b, Expr s, int l) : ExprNode(kKind, t), base(std::move(b)), stride(std::move(s)), lanes(l) {}
  static Expr make(Expr base, Expr stride, int lanes);
  const Expr base, stride;
  const int lanes;
};

// A scalar repeated in every lane.
struct Broadcast : ExprNode {
  static constexpr ExprKind kKind = ExprKind::Broadcast;
  Broadcast(Type t, Expr v, int l) : ExprNode(kKind, t), value(std::move(v)), lanes(l) {}
  static Expr make(Expr value, int lanes);
  const Expr value;
  const int lanes;
};

// Target-independent intrinsics. Back ends map each to an instruction or library call.
enum class Intrinsic : uint8_t {
  Exp, Log, Sqrt, Rsqrt, Tanh, Erf, Sin, Cos, Pow, Abs, Floor,
  F16BitsToF32,   // u16 holding IEEE half bits -> f32
  ReduceAdd,      // vector -> scalar sum of its lanes
  ReduceMax,      // vector -> scalar max of its lanes
  ReduceMin,
  // Integer dot products of packed bytes, lane by lane on i32 values (CUDA's dp4a, x86's
  // vpdpbusd): args (acc, a, b), the result acc + sum over bytes q < 4 of a_q * b_q.
  //   DotU8S8: a's bytes unsigned, b's signed. Back ends may assume a's bytes are at most 127
  //            (AVX2's pmaddubsw saturates its pair sums otherwise).
  //   DotS8S8: both signed. Back ends may assume b has no byte -128.
  // The IR's meaning is exact for all inputs; the assumptions only license fast instructions.
  DotU8S8,
  DotS8S8,
  // The work-group's index in the grid, and the thread's in its work-group, along dimension
  // args[0] (a constant 0, 1 or 2): i64. Only in GPU kernels, after lowering's gpu_ids pass.
  GpuBlockId,
  GpuThreadId,
};
const char* intrinsic_name(Intrinsic op);

struct Call : ExprNode {
  static constexpr ExprKind kKind = ExprKind::Call;
  Call(Type t, Intrinsic o, std::vector<Expr> a) : ExprNode(kKind, t), op(o), args(std::move(a)) {}
  static Expr make(Intrinsic op, std::vector<Expr> args);
  const Intrinsic op;
  const std::vector<Expr> args;
};

// Compute definitions only: tensor(indices...) by logical, multi-dimensional index, with the
// tensor's own element type converted to `type` (dequantized for block formats). Lowering
// replaces every Access by flat Loads.
struct Access : ExprNode {
  static constexpr ExprKind kKind = ExprKind::Access;
  Access(Type t, std::string n, std::vector<Expr> i) : ExprNode(kKind, t), tensor(std::move(n)), indices(std::move(i)) {}
  static Expr make(Type value_type, std::string tensor, std::vector<Expr> indices);
  const std::string tensor;
  const std::vector<Expr> indices;
};

// Readable builders. Integer literals are i64, float literals f32; make() matches scalar
// operands to the other side's type where that is lossless.
Expr operator+(Expr a, Expr b);
Expr operator-(Expr a, Expr b);
Expr operator*(Expr a, Expr b);
Expr operator/(Expr a, Expr b);
Expr operator%(Expr a, Expr b);
Expr operator-(Expr a);
Expr operator<(Expr a, Expr b);
Expr operator<=(Expr a, Expr b);
Expr operator>(Expr a, Expr b);
Expr operator>=(Expr a, Expr b);
Expr operator==(Expr a, Expr b);
Expr operator!=(Expr a, Expr b);
Expr operator&&(Expr a, Expr b);
Expr operator||(Expr a, Expr b);
Expr operator!(Expr a);
Expr operator&(Expr a, Expr b);
Expr operator|(Expr a, Expr b);
Expr operator<<(Expr a, Expr b);
Expr operator>>(Expr a, Expr b);
Expr min(Expr a, Expr b);
Expr max(Expr a, Expr b);
Expr select(Expr condition, Expr true_value, Expr false_value);
Expr cast(Type type, Expr value);
Expr reinterpret(Type type, Expr value);
Expr call(Intrinsic op, std::vector<Expr> args);
Expr var(std::string name, Type type = Type::index());
Expr f32(double value);
Expr i64(int64_t value);

// The constant value, if `e` is an integer constant.
const int64_t* as_const_int(const Expr& e);

}  // namespace kiln::ir
