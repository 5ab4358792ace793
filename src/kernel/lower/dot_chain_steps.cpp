#include "kernel/lower/dot_chain_steps.h"

#include <string>
#include <vector>

#include "kernel/ir/dot_chain.h"
#include "kernel/ir/possible_bits.h"
#include "kernel/ir/visitor.h"

namespace kiln::kernel {
namespace {

using ir::Expr;
using ir::Stmt;

bool is_dot(ir::Intrinsic op) { return op == ir::Intrinsic::DotU8S8 || op == ir::Intrinsic::DotS8S8; }

// The outermost dot products in an expression (not those nested in another's accumulator).
class OutermostDots : public ir::IRVisitor {
 public:
  std::vector<const ir::Call*> found;

 protected:
  using ir::IRVisitor::visit;
  void visit(const ir::Call* op) override {
    if (is_dot(op->op)) {
      found.push_back(op);
      return;
    }
    ir::IRVisitor::visit(op);
  }
};

// Replaces the one expression equal (as a node) to `target` by `replacement`.
class ReplaceNode : public ir::IRMutator {
 public:
  ReplaceNode(const ir::Call* target, Expr replacement) : target_(target), replacement_(std::move(replacement)) {}

 protected:
  using ir::IRMutator::visit;
  Expr visit(const ir::Call* op, const Expr& e) override {
    if (op == target_) return replacement_;
    return ir::IRMutator::visit(op, e);
  }

 private:
  const ir::Call* target_;
  Expr replacement_;
};

class StepDotChains : public ir::IRMutator {
 protected:
  using ir::IRMutator::visit;
  Stmt visit(const ir::For* op, const Stmt& s) override {
    if (op->for_kind != ir::ForKind::Unrolled) return ir::IRMutator::visit(op, s);
    const int64_t* extent = ir::as_const_int(op->extent);
    if (extent == nullptr || *extent < 2) return ir::IRMutator::visit(op, s);
    // The body: lets, then one store.
    std::vector<const ir::LetStmt*> lets;
    Stmt inner = op->body;
    while (const auto* let = inner.as<ir::LetStmt>()) {
      lets.push_back(let);
      inner = let->body;
    }
    const auto* store = inner.as<ir::Store>();
    if (store == nullptr) return ir::IRMutator::visit(op, s);
    OutermostDots dots;
    dots.walk(store->value);
    if (dots.found.size() != 1) return s;
    const ir::Call* outer = dots.found[0];
    const ir::DotChain chain = ir::unfold_dot_chain(outer);
    // The steps compute every row's products before any row's store: safe while the chain
    // does not read what the tile writes.
    for (const Expr& arg : outer->args) {
      if (ir::reads_buffer(arg, store->buffer)) return s;
    }
    std::vector<int> steps;
    if (chain.op == ir::Intrinsic::DotU8S8) {
      std::vector<int> a_max;
      for (const ir::Call* term : chain.terms) a_max.push_back(ir::max_byte(term->args[1]));
      steps = ir::i16_runs(a_max);
    } else {
      steps.assign(chain.terms.size(), 1);
    }
    if (steps.size() < 2) return s;

    const ir::Type type = outer->type;
    const int lanes = type.lanes;
    const std::string buffer = "dot_steps" + (count_ == 0 ? std::string() : std::to_string(count_));
    ++count_;
    const int64_t* min = ir::as_const_int(op->min);
    const Expr row = min != nullptr && *min == 0 ? ir::var(op->var) : ir::var(op->var) - op->min;
    const Expr index = lanes > 1 ? ir::Ramp::make(row * int64_t{lanes}, Expr(int64_t{1}), lanes) : row;
    const Expr partial = ir::Load::make(type.element_of(), buffer, index);
    const auto tile_loop = [&](Stmt body) {
      for (auto it = lets.rbegin(); it != lets.rend(); ++it) body = ir::LetStmt::make((*it)->name, (*it)->value, body);
      return ir::For::make(op->var, op->min, op->extent, ir::ForKind::Unrolled, body);
    };
    std::vector<Stmt> loops;
    size_t next = 0;
    for (size_t step = 0; step < steps.size(); ++step) {
      Expr acc = step == 0 ? chain.start : partial;
      for (int i = 0; i < steps[step]; ++i, ++next) {
        const ir::Call* term = chain.terms[next];
        acc = ir::Call::make(chain.op, {acc, term->args[1], term->args[2]});
      }
      loops.push_back(tile_loop(ir::Store::make(buffer, index, acc)));
    }
    const Expr value = ReplaceNode(outer, partial).mutate(store->value);
    loops.push_back(tile_loop(ir::Store::make(store->buffer, store->index, value)));
    return ir::Allocate::make(buffer, type.element_of(), Expr(*extent * lanes), ir::MemoryScope::Register,
                              ir::Block::make(std::move(loops)));
  }

 private:
  int count_ = 0;
};

}  // namespace

Stmt step_dot_chains(const Stmt& body) { return StepDotChains().mutate(body); }

}  // namespace kiln::kernel
