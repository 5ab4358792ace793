#include "kernel/lower/vectorize.h"

#include <map>
#include <optional>
#include <set>

#include "base/error.h"
#include "kernel/ir/equal.h"
#include "kernel/ir/printer.h"
#include "kernel/ir/simplify.h"
#include "kernel/ir/visitor.h"

namespace kiln::ir {

namespace {

// Restores a map entry (or its absence) when a scope ends.
template <typename Map>
class ScopedEntry {
 public:
  ScopedEntry(Map& map, const std::string& key) : map_(map), key_(key) {
    auto it = map.find(key);
    if (it != map.end()) saved_ = it->second;
  }
  ~ScopedEntry() {
    if (saved_) map_[key_] = *saved_;
    else map_.erase(key_);
  }
  ScopedEntry(const ScopedEntry&) = delete;
  ScopedEntry& operator=(const ScopedEntry&) = delete;

 private:
  Map& map_;
  std::string key_;
  std::optional<typename Map::mapped_type> saved_;
};

// Widens the body of one vectorized loop.
class LoopWidener : public IRMutator {
 public:
  LoopWidener(const For* loop, int lanes) : loop_(loop), lanes_(lanes) {
    vector_vars_[loop->var] = Ramp::make(loop->min, IntImm::make(Type::index(), 1), lanes);
  }

  using IRMutator::mutate;

  Expr mutate(const Expr& e) override {
    Expr result = IRMutator::mutate(e);
    // A run of elements that a reinterpret packs into one scalar (four bytes as an i32) may
    // widen into one run per lane; anywhere else a vector would mix the lanes' values.
    const bool run = packing_run_ && e.defined() && (e.kind() == ExprKind::Ramp || e.kind() == ExprKind::Load) &&
                     result.type().lanes == e.type().lanes * lanes_;
    if (e.defined() && e.type().is_vector() && !result.same_as(e) && !run) {
      fail(fmt::format("{} already computes on vectors", to_string(e)));
    }
    return result;
  }

 protected:
  using IRMutator::visit;

  Expr visit(const Var* op, const Expr& e) override {
    auto it = vector_vars_.find(op->name);
    return it == vector_vars_.end() ? e : it->second;
  }

  Expr visit(const Binary* op, const Expr& e) override {
    Expr a = mutate(op->a);
    Expr b = mutate(op->b);
    if (a.same_as(op->a) && b.same_as(op->b)) return e;
    return widen_binary(op->op, a, b);
  }

  Expr visit(const Cast* op, const Expr& e) override {
    Expr value = mutate(op->value);
    if (value.same_as(op->value)) return e;
    return Cast::make(op->type.with_lanes(value.type().lanes), value);
  }

  Expr visit(const Reinterpret* op, const Expr& e) override {
    const bool packs = op->type.lanes == 1 && op->value.type().is_vector();
    const bool saved = packing_run_;
    packing_run_ = packs;
    Expr value = mutate(op->value);
    packing_run_ = saved;
    if (value.same_as(op->value)) return e;
    return Reinterpret::make(op->type.with_lanes(lanes_), value);  // e was scalar (see mutate)
  }

  Expr visit(const Load* op, const Expr& e) override {
    Expr index = mutate(op->index);
    if (widened_allocations_.count(op->buffer) != 0) index = lane_interleaved(index);
    if (index.same_as(op->index)) return e;
    return Load::make(op->type.element_of(), op->buffer, index);
  }

  // A ramp or broadcast already in the body cannot take vector operands, except consecutive
  // runs: ramp(b + n * s * lanes, s, n) over lanes of a vectorized loop is one ramp
  // (a definition's four bytes at 4 g, for vectorized g, are one dense load).
  Expr visit(const Ramp* op, const Expr& e) override {
    const bool packing = packing_run_;
    packing_run_ = false;  // only the run itself, not what its base computes
    const Expr base = mutate(op->base);
    packing_run_ = packing;
    const bool stride_fixed = mutate(op->stride).same_as(op->stride);
    if (base.same_as(op->base) && stride_fixed) return e;
    if (!packing_run_ || !stride_fixed) fail(fmt::format("{} already computes on vectors", to_string(e)));
    // The base as a function of the loop variable alone: the lets it reads, expanded.
    Expr scalar = op->base;
    for (int depth = 0; depth < 8; ++depth) {
      const Expr expanded = substitute(scalar, scalar_lets_);
      if (expanded.same_as(scalar)) break;
      scalar = expanded;
    }
    const Expr widened = simplify(substitute(scalar, {{loop_->var, vector_vars_.at(loop_->var)}}));
    const Ramp* runs = widened.as<Ramp>();
    const int64_t* stride = as_const_int(op->stride);
    const int64_t* run_stride = runs ? as_const_int(runs->stride) : nullptr;
    if (stride && run_stride && *run_stride == *stride * op->lanes) {
      return Ramp::make(runs->base, op->stride, op->lanes * runs->lanes);
    }
    // Runs that are not consecutive (4 bytes at 4 (g % 4) for lanes g): lane m of the widened
    // vector is element m % n of the run of loop lane m / n, an index vector the back end
    // loads as a window and a shuffle when its lanes lie close together.
    const Expr m = Ramp::make(IntImm::make(Type::index(), 0), IntImm::make(Type::index(), 1), lanes_ * op->lanes);
    const Expr n = Broadcast::make(IntImm::make(Type::index(), op->lanes), lanes_ * op->lanes);
    const Expr lane = Binary::make(BinaryOp::Div, m, n) + Broadcast::make(loop_->min, lanes_ * op->lanes);
    return substitute(scalar, {{loop_->var, lane}}) + Binary::make(BinaryOp::Mod, m, n) * op->stride;
  }

  Expr visit(const Broadcast* op, const Expr& e) override {
    if (mutate(op->value).same_as(op->value)) return e;
    fail(fmt::format("{} already computes on vectors", to_string(e)));
  }

  Expr visit(const Call* op, const Expr& e) override {
    std::vector<Expr> args;
    bool widened = false;
    for (const Expr& arg : op->args) {
      args.push_back(mutate(arg));
      widened = widened || !args.back().same_as(arg);
    }
    if (!widened) return e;
    for (Expr& arg : args) arg = to_vector(arg);
    return Call::make(op->op, std::move(args));
  }

  Expr visit(const Access* op, const Expr&) override {
    fail(fmt::format("tensor access {} left in loop IR", op->tensor));
  }

  Stmt visit(const Store* op, const Stmt& s) override {
    Expr index = mutate(op->index);
    if (widened_allocations_.count(op->buffer) != 0) index = lane_interleaved(index);
    if (index.type().is_vector()) return store(op->buffer, index, to_vector(mutate(op->value)));
    // One element for all lanes: only a reduction, or a value that is the same for every
    // lane and stored again harmlessly, can be vectorized.
    if (std::optional<Stmt> reduction = horizontal_reduction(op, index)) return *reduction;
    Expr value = mutate(op->value);
    const std::string element = op->buffer + "[" + to_string(op->index) + "]";
    if (value.type().is_vector()) {
      fail(fmt::format("{} does not depend on {} but the value stored there does (only +, min and "
                       "max reductions can be vectorized)", element, loop_->var));
    }
    if (predicate_.defined()) {
      fail(fmt::format("{} is stored under a condition that depends on {}", element, loop_->var));
    }
    if (reads_buffer(value, op->buffer)) {
      fail(fmt::format("{} is updated once per lane from its own value", element));
    }
    if (index.same_as(op->index) && value.same_as(op->value)) return s;
    return Store::make(op->buffer, index, value);
  }

  Stmt visit(const LetStmt* op, const Stmt& s) override {
    Expr value = mutate(op->value);
    ScopedEntry scope(vector_vars_, op->name);
    ScopedEntry scalar_scope(scalar_lets_, op->name);
    if (value.type().is_vector()) {
      vector_vars_[op->name] = Var::make(value.type(), op->name);
      scalar_lets_[op->name] = op->value;
    } else {
      vector_vars_.erase(op->name);
      scalar_lets_.erase(op->name);
    }
    Stmt body = mutate(op->body);
    if (value.same_as(op->value) && body.same_as(op->body)) return s;
    return LetStmt::make(op->name, value, body);
  }

  Stmt visit(const For* op, const Stmt& s) override {
    if (op->for_kind != ForKind::Serial && op->for_kind != ForKind::Unrolled) {
      fail(fmt::format("it contains the {} loop {}", for_kind_name(op->for_kind), op->var));
    }
    Expr min = mutate(op->min);
    Expr extent = mutate(op->extent);
    if (min.type().is_vector() || extent.type().is_vector()) {
      fail(fmt::format("the bounds of the inner loop {} depend on {}", op->var, loop_->var));
    }
    ScopedEntry scope(vector_vars_, op->var);
    vector_vars_.erase(op->var);
    Stmt body = mutate(op->body);
    if (min.same_as(op->min) && extent.same_as(op->extent) && body.same_as(op->body)) return s;
    return For::make(op->var, min, extent, op->for_kind, body, op->gpu_dim);
  }

  Stmt visit(const IfThenElse* op, const Stmt& s) override {
    Expr condition = mutate(op->condition);
    if (!condition.type().is_vector()) {
      Stmt then_case = mutate(op->then_case);
      Stmt else_case = mutate(op->else_case);
      if (condition.same_as(op->condition) && then_case.same_as(op->then_case) &&
          else_case.same_as(op->else_case)) {
        return s;
      }
      return IfThenElse::make(condition, then_case, else_case);
    }
    // A lane-varying condition: both branches run, their stores masked.
    const Expr outer = predicate_;
    predicate_ = outer.defined() ? (outer && condition) : condition;
    Stmt then_case = mutate(op->then_case);
    Stmt else_case;
    if (op->else_case.defined()) {
      predicate_ = outer.defined() ? (outer && !condition) : !condition;
      else_case = mutate(op->else_case);
    }
    predicate_ = outer;
    return Block::make({then_case, else_case});
  }

  Stmt visit(const Allocate* op, const Stmt& s) override {
    ScopedEntry scope(widened_allocations_, op->name);
    if (op->scope != MemoryScope::Register && op->scope != MemoryScope::Local) {
      widened_allocations_.erase(op->name);
      return IRMutator::visit(op, s);
    }
    widened_allocations_[op->name] = true;
    const Expr size = IntImm::make(op->size.type(), *as_const_int(op->size) * lanes_);
    return Allocate::make(op->name, op->element_type, size, op->scope, mutate(op->body));
  }

  Stmt visit(const Barrier* op, const Stmt& s) override {
    if (predicate_.defined()) fail(fmt::format("a barrier is under a condition that depends on {}", loop_->var));
    return IRMutator::visit(op, s);
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw InternalError(fmt::format("cannot vectorize loop {}: {}", loop_->var, why));
  }

  Expr to_vector(const Expr& e) const { return e.type().is_vector() ? e : Broadcast::make(e, lanes_); }

  // a OP b on widened operands, keeping ramps as ramps where integer arithmetic allows.
  Expr widen_binary(BinaryOp op, const Expr& a, const Expr& b) const {
    const Ramp* ra = a.as<Ramp>();
    const Ramp* rb = b.as<Ramp>();
    const bool a_scalar = !a.type().is_vector(), b_scalar = !b.type().is_vector();
    auto ramp = [this](const Expr& base, const Expr& stride) {
      return Ramp::make(simplify(base), simplify(stride), lanes_);
    };
    if (a.type().is_integer() && (ra || rb)) {
      switch (op) {
        case BinaryOp::Add:
          if (ra && rb) return ramp(ra->base + rb->base, ra->stride + rb->stride);
          if (ra && b_scalar) return ramp(ra->base + b, ra->stride);
          if (rb && a_scalar) return ramp(a + rb->base, rb->stride);
          break;
        case BinaryOp::Sub:
          if (ra && rb) return ramp(ra->base - rb->base, ra->stride - rb->stride);
          if (ra && b_scalar) return ramp(ra->base - b, ra->stride);
          if (rb && a_scalar) return ramp(a - rb->base, 0 - rb->stride);
          break;
        case BinaryOp::Mul:
          if (ra && b_scalar) return ramp(ra->base * b, ra->stride * b);
          if (rb && a_scalar) return ramp(a * rb->base, a * rb->stride);
          break;
        default: break;
      }
    }
    return Binary::make(op, a, b);  // broadcasts a scalar operand
  }

  // Lane j's own copy of element `index` of a widened allocation: index * lanes + j.
  Expr lane_interleaved(const Expr& index) const {
    const Type t = index.type().element_of();
    const Expr lane = Ramp::make(IntImm::make(t, 0), IntImm::make(t, 1), lanes_);
    return widen_binary(BinaryOp::Add, widen_binary(BinaryOp::Mul, index, IntImm::make(t, lanes_)), lane);
  }

  // Stores a vector, keeping the old value in lanes the current predicate masks off.
  Stmt store(const std::string& buffer, const Expr& index, const Expr& value) const {
    if (!predicate_.defined()) return Store::make(buffer, index, value);
    const Expr old = Load::make(value.type().element_of(), buffer, index);
    return Store::make(buffer, index, select(predicate_, value, old));
  }

  // buf[i] = buf[i] OP f (or f OP buf[i]) with OP in {+, min, max} and i lane-invariant.
  std::optional<Stmt> horizontal_reduction(const Store* op, const Expr& index) {
    const Binary* update = op->value.as<Binary>();
    if (!update) return std::nullopt;
    Intrinsic reduce;
    switch (update->op) {
      case BinaryOp::Add: reduce = Intrinsic::ReduceAdd; break;
      case BinaryOp::Min: reduce = Intrinsic::ReduceMin; break;
      case BinaryOp::Max: reduce = Intrinsic::ReduceMax; break;
      default: return std::nullopt;
    }
    auto is_stored_element = [op](const Expr& e) {
      const Load* load = e.as<Load>();
      return load && load->buffer == op->buffer && equal(load->index, op->index);
    };
    const bool old_on_left = is_stored_element(update->a);
    if (!old_on_left && !is_stored_element(update->b)) return std::nullopt;
    const Expr& old = old_on_left ? update->a : update->b;
    if (predicate_.defined()) {
      fail(fmt::format("the reduction into {}[{}] is under a condition that depends on {}", op->buffer,
                       to_string(op->index), loop_->var));
    }
    Expr term = mutate(old_on_left ? update->b : update->a);
    // min/max with a lane-invariant term is idempotent: once is as good as once per lane.
    if (!term.type().is_vector() && reduce != Intrinsic::ReduceAdd) {
      return Store::make(op->buffer, index, mutate(op->value));
    }
    const Expr reduced = call(reduce, {to_vector(term)});
    const Expr old_value = Load::make(old.type(), op->buffer, index);
    const Expr value = old_on_left ? Binary::make(update->op, old_value, reduced)
                                   : Binary::make(update->op, reduced, old_value);
    return Store::make(op->buffer, index, value);
  }

  const For* loop_;
  const int lanes_;
  std::map<std::string, Expr> vector_vars_;          // name -> what replaces it
  std::map<std::string, Expr> scalar_lets_;          // a let-bound vector's scalar definition
  bool packing_run_ = false;                         // inside a reinterpret of a vector as one scalar
  std::map<std::string, bool> widened_allocations_;  // per-lane copies, by name
  Expr predicate_;                                   // lanes whose stores take effect
};

class VectorizeLoops : public IRMutator {
 protected:
  using IRMutator::visit;

  Stmt visit(const For* op, const Stmt& s) override {
    if (op->for_kind != ForKind::Vectorized) return IRMutator::visit(op, s);
    const int64_t lanes = *as_const_int(op->extent);
    if (lanes <= 0) return Block::make({});
    if (lanes == 1) return LetStmt::make(op->var, op->min, mutate(op->body));
    KILN_CHECK(lanes <= 1024, "vectorized loop {} has {} lanes", op->var, lanes);
    return LoopWidener(op, static_cast<int>(lanes)).mutate(op->body);
  }
};

}  // namespace

Stmt vectorize_loops(const Stmt& s) { return VectorizeLoops().mutate(s); }

}  // namespace kiln::ir
