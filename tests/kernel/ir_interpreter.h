// A slow reference interpreter of the loop IR for tests: runs a statement over named buffers of
// doubles, vector lanes and all, so a pass's output can be checked against its input by running
// both. Integers are held exactly as doubles (tests keep them below 2^53); every buffer access is
// bounds-checked, and temporaries start as NaN so a read before a write shows.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel/ir/expr.h"
#include "kernel/ir/stmt.h"

namespace kiln::ir::testing {

class Interpreter {
 public:
  using Lanes = std::vector<double>;
  std::map<std::string, std::vector<double>> buffers;
  std::map<std::string, Lanes> vars;

  void run(const Stmt& s) {
    if (!s.defined()) return;
    switch (s.kind()) {
      case StmtKind::For: {
        const For* op = s.as<For>();
        const int64_t begin = scalar_int(op->min), end = begin + scalar_int(op->extent);
        if (op->for_kind == ForKind::GpuThread && has_barrier(op->body)) {
          run_threads_in_step(op, begin, end);
          break;
        }
        for (int64_t v = begin; v < end; ++v) {
          Bind bind(vars, op->var, {static_cast<double>(v)});
          run(op->body);
        }
        break;
      }
      case StmtKind::Store: {
        const Store* op = s.as<Store>();
        const Lanes index = eval(op->index), value = eval(op->value);
        for (size_t j = 0; j < index.size(); ++j) buffer(op->buffer).at(static_cast<size_t>(index[j])) = value[j];
        break;
      }
      case StmtKind::LetStmt: {
        const LetStmt* op = s.as<LetStmt>();
        Bind bind(vars, op->name, eval(op->value));
        run(op->body);
        break;
      }
      case StmtKind::IfThenElse: {
        const IfThenElse* op = s.as<IfThenElse>();
        run(eval(op->condition)[0] != 0 ? op->then_case : op->else_case);
        break;
      }
      case StmtKind::Allocate: {
        const Allocate* op = s.as<Allocate>();
        const auto size = static_cast<size_t>(scalar_int(op->size));
        Bind bind(buffers, op->name, std::vector<double>(size, std::numeric_limits<double>::quiet_NaN()));
        run(op->body);
        break;
      }
      case StmtKind::Barrier: break;
      case StmtKind::Block:
        for (const Stmt& inner : s.as<Block>()->stmts) run(inner);
        break;
    }
  }

  Lanes eval(const Expr& e) {
    switch (e.kind()) {
      case ExprKind::IntImm: return {static_cast<double>(e.as<IntImm>()->value)};
      case ExprKind::FloatImm: return {e.as<FloatImm>()->value};
      case ExprKind::Var: return vars.at(e.as<Var>()->name);
      case ExprKind::Cast: {
        Lanes v = eval(e.as<Cast>()->value);
        for (double& lane : v) lane = e.type().is_bool() ? (lane != 0) : e.type().is_float() ? lane : std::trunc(lane);
        return v;
      }
      case ExprKind::Binary: {
        const Binary* op = e.as<Binary>();
        const Lanes a = eval(op->a), b = eval(op->b);
        Lanes result(a.size());
        for (size_t j = 0; j < a.size(); ++j) result[j] = binary(op->op, op->a.type().is_float(), a[j], b[j]);
        return result;
      }
      case ExprKind::Not: {
        Lanes v = eval(e.as<Not>()->value);
        for (double& lane : v) lane = lane == 0;
        return v;
      }
      case ExprKind::Select: {
        const Select* op = e.as<Select>();
        const Lanes c = eval(op->condition), t = eval(op->true_value), f = eval(op->false_value);
        Lanes result(c.size());
        for (size_t j = 0; j < c.size(); ++j) result[j] = c[j] != 0 ? t[j] : f[j];
        return result;
      }
      case ExprKind::Load: {
        const Load* op = e.as<Load>();
        Lanes index = eval(op->index);
        for (double& lane : index) lane = buffer(op->buffer).at(static_cast<size_t>(lane));
        return index;
      }
      case ExprKind::Ramp: {
        const Ramp* op = e.as<Ramp>();
        const double base = eval(op->base)[0], stride = eval(op->stride)[0];
        Lanes result(static_cast<size_t>(op->lanes));
        for (size_t j = 0; j < result.size(); ++j) result[j] = base + static_cast<double>(j) * stride;
        return result;
      }
      case ExprKind::Broadcast: {
        const Broadcast* op = e.as<Broadcast>();
        return Lanes(static_cast<size_t>(op->lanes), eval(op->value)[0]);
      }
      case ExprKind::Call: return call(e.as<Call>());
      default: throw std::runtime_error("the test interpreter cannot evaluate this expression");
    }
  }

 private:
  static bool has_barrier(const Stmt& s) {
    if (!s.defined()) return false;
    switch (s.kind()) {
      case StmtKind::Barrier: return true;
      case StmtKind::For: return has_barrier(s.as<For>()->body);
      case StmtKind::LetStmt: return has_barrier(s.as<LetStmt>()->body);
      case StmtKind::Allocate: return has_barrier(s.as<Allocate>()->body);
      case StmtKind::IfThenElse:
        return has_barrier(s.as<IfThenElse>()->then_case) || has_barrier(s.as<IfThenElse>()->else_case);
      case StmtKind::Block:
        for (const Stmt& inner : s.as<Block>()->stmts) {
          if (has_barrier(inner)) return true;
        }
        return false;
      default: return false;
    }
  }

  // One GPU thread's state while a work-group runs in lock step: its variables, and its
  // register and private allocations.
  struct ThreadState {
    std::map<std::string, Lanes> vars;
    std::map<std::string, std::vector<double>> private_buffers;
  };

  // The threads of a work-group, as a GPU runs them: statement by statement in lock step, so
  // that every thread finishes what comes before a barrier before any thread goes past it.
  // Statements without a barrier run thread after thread; a loop, `if` or `let` that holds a
  // barrier must be the same for every thread (as barriers require).
  void run_threads_in_step(const For* op, int64_t begin, int64_t end) {
    std::vector<ThreadState> threads(static_cast<size_t>(end - begin));
    for (size_t t = 0; t < threads.size(); ++t) {
      threads[t].vars = vars;
      threads[t].vars[op->var] = {static_cast<double>(begin + static_cast<int64_t>(t))};
    }
    run_in_step(op->body, threads);
  }

  // Runs `f` as thread `t`: its variables and private buffers in place of the interpreter's.
  template <typename F>
  void as_thread(ThreadState& t, F f) {
    std::swap(vars, t.vars);
    std::map<std::string, std::vector<double>> shadowed;
    for (auto& [name, data] : t.private_buffers) {
      if (buffers.count(name)) shadowed[name] = std::move(buffers[name]);
      buffers[name] = std::move(data);
    }
    f();
    for (auto& [name, data] : t.private_buffers) {
      data = std::move(buffers[name]);
      buffers.erase(name);
    }
    for (auto& [name, data] : shadowed) buffers[name] = std::move(data);
    std::swap(vars, t.vars);
  }

  // The value of `e`, which must be the same in every thread.
  Lanes uniform(const Expr& e, std::vector<ThreadState>& threads) {
    Lanes first;
    for (size_t t = 0; t < threads.size(); ++t) {
      as_thread(threads[t], [&] {
        const Lanes v = eval(e);
        if (t == 0) first = v;
        else if (v != first) throw std::runtime_error("a barrier under control flow that differs between threads");
      });
    }
    return first;
  }

  void run_in_step(const Stmt& s, std::vector<ThreadState>& threads) {
    if (!has_barrier(s)) {
      for (ThreadState& t : threads) as_thread(t, [&] { run(s); });
      return;
    }
    switch (s.kind()) {
      case StmtKind::Barrier: break;  // lock step: every thread is already here
      case StmtKind::Block:
        for (const Stmt& inner : s.as<Block>()->stmts) run_in_step(inner, threads);
        break;
      case StmtKind::LetStmt: {
        const LetStmt* op = s.as<LetStmt>();
        std::vector<std::optional<Lanes>> saved(threads.size());
        for (size_t t = 0; t < threads.size(); ++t) {
          auto& tv = threads[t].vars;
          if (tv.count(op->name)) saved[t] = tv[op->name];
          Lanes value;
          as_thread(threads[t], [&] { value = eval(op->value); });
          tv[op->name] = value;
        }
        run_in_step(op->body, threads);
        for (size_t t = 0; t < threads.size(); ++t) {
          if (saved[t]) threads[t].vars[op->name] = *saved[t];
          else threads[t].vars.erase(op->name);
        }
        break;
      }
      case StmtKind::For: {
        const For* op = s.as<For>();
        if (op->for_kind == ForKind::GpuThread) throw std::runtime_error("nested GPU thread loops with barriers");
        const int64_t begin = static_cast<int64_t>(uniform(op->min, threads)[0]);
        const int64_t end = begin + static_cast<int64_t>(uniform(op->extent, threads)[0]);
        for (int64_t v = begin; v < end; ++v) {
          for (ThreadState& t : threads) t.vars[op->var] = {static_cast<double>(v)};
          run_in_step(op->body, threads);
        }
        for (ThreadState& t : threads) t.vars.erase(op->var);
        break;
      }
      case StmtKind::IfThenElse: {
        const IfThenElse* op = s.as<IfThenElse>();
        run_in_step(uniform(op->condition, threads)[0] != 0 ? op->then_case : op->else_case, threads);
        break;
      }
      case StmtKind::Allocate: {
        const Allocate* op = s.as<Allocate>();
        const auto size = static_cast<size_t>(uniform(op->size, threads)[0]);
        std::vector<double> fresh(size, std::numeric_limits<double>::quiet_NaN());
        if (op->scope == MemoryScope::Shared) {
          Bind bind(buffers, op->name, fresh);
          run_in_step(op->body, threads);
        } else {
          for (ThreadState& t : threads) t.private_buffers[op->name] = fresh;
          run_in_step(op->body, threads);
          for (ThreadState& t : threads) t.private_buffers.erase(op->name);
        }
        break;
      }
      default: throw std::runtime_error("a barrier where the test interpreter cannot follow it");
    }
  }

  // Binds a name for one scope, restoring what it hid afterwards.
  template <typename Map>
  struct Bind {
    Map& map;
    std::string name;
    bool had;
    typename Map::mapped_type saved;
    Bind(Map& m, const std::string& n, typename Map::mapped_type value) : map(m), name(n), had(m.count(n) != 0) {
      if (had) saved = map[name];
      map[name] = std::move(value);
    }
    ~Bind() {
      if (had) map[name] = saved;
      else map.erase(name);
    }
  };

  std::vector<double>& buffer(const std::string& name) {
    auto it = buffers.find(name);
    if (it == buffers.end()) throw std::runtime_error("no buffer " + name);
    return it->second;
  }

  int64_t scalar_int(const Expr& e) { return static_cast<int64_t>(eval(e)[0]); }

  static double binary(BinaryOp op, bool is_float, double a, double b) {
    const auto ia = static_cast<int64_t>(a), ib = static_cast<int64_t>(b);
    switch (op) {
      case BinaryOp::Add: return a + b;
      case BinaryOp::Sub: return a - b;
      case BinaryOp::Mul: return a * b;
      case BinaryOp::Div: return is_float ? a / b : static_cast<double>(ia / ib);
      case BinaryOp::Mod: return is_float ? std::fmod(a, b) : static_cast<double>(ia % ib);
      case BinaryOp::Min: return std::min(a, b);
      case BinaryOp::Max: return std::max(a, b);
      case BinaryOp::EQ: return a == b;
      case BinaryOp::NE: return a != b;
      case BinaryOp::LT: return a < b;
      case BinaryOp::LE: return a <= b;
      case BinaryOp::GT: return a > b;
      case BinaryOp::GE: return a >= b;
      case BinaryOp::And: return a != 0 && b != 0;
      case BinaryOp::Or: return a != 0 || b != 0;
      case BinaryOp::BitAnd: return static_cast<double>(ia & ib);
      case BinaryOp::BitOr: return static_cast<double>(ia | ib);
      case BinaryOp::BitXor: return static_cast<double>(ia ^ ib);
      case BinaryOp::Shl: return static_cast<double>(ia << ib);
      case BinaryOp::Shr: return static_cast<double>(ia >> ib);
    }
    return 0;
  }

  Lanes call(const Call* op) {
    Lanes v = eval(op->args[0]);
    double reduced = v[0];
    switch (op->op) {
      case Intrinsic::DotU8S8: case Intrinsic::DotS8S8: {
        const Lanes a = eval(op->args[1]), b = eval(op->args[2]);
        for (size_t l = 0; l < v.size(); ++l) {
          const auto pa = static_cast<uint32_t>(static_cast<int64_t>(a[l])), pb = static_cast<uint32_t>(static_cast<int64_t>(b[l]));
          for (int q = 0; q < 4; ++q) {
            const int byte_a = op->op == Intrinsic::DotU8S8 ? static_cast<uint8_t>(pa >> (8 * q)) : static_cast<int8_t>(pa >> (8 * q));
            v[l] += byte_a * static_cast<int8_t>(pb >> (8 * q));
          }
        }
        return v;
      }
      case Intrinsic::ReduceAdd: reduced = 0; for (double lane : v) reduced += lane; return {reduced};
      case Intrinsic::ReduceMax: for (double lane : v) reduced = std::max(reduced, lane); return {reduced};
      case Intrinsic::ReduceMin: for (double lane : v) reduced = std::min(reduced, lane); return {reduced};
      case Intrinsic::Exp: for (double& lane : v) lane = std::exp(lane); return v;
      case Intrinsic::Abs: for (double& lane : v) lane = std::fabs(lane); return v;
      case Intrinsic::Sqrt: for (double& lane : v) lane = std::sqrt(lane); return v;
      case Intrinsic::Rsqrt: for (double& lane : v) lane = 1 / std::sqrt(lane); return v;
      default: throw std::runtime_error("the test interpreter lacks this intrinsic");
    }
  }
};

}  // namespace kiln::ir::testing
