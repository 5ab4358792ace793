// IRVisitor and IRMutator: full walks, unchanged nodes shared, substitution and variable uses
// that respect rebinding.
#include "kernel/ir/visitor.h"

#include <gtest/gtest.h>

#include "kernel/ir/printer.h"

namespace kiln::ir {
namespace {

// A statement that has every kind of node in it.
Stmt every_kind_of_node() {
  const Expr i = var("i"), k = var("k");
  const Expr lanes = Ramp::make(k * 4, 1, 4);
  const Expr vector_sum = call(Intrinsic::ReduceAdd, {Load::make(Type::f32(), "x", lanes) * Broadcast::make(f32(2.0), 4)});
  return For::make(
      "i", 0, var("n"), ForKind::Parallel,
      Allocate::make("acc", Type::f32(), 1, MemoryScope::Register,
                     Block::make({
                         Store::make("acc", 0, f32(0.0)),
                         For::make("k", 0, 8, ForKind::Serial,
                                   LetStmt::make("v", select(!(k < 2), vector_sum, f32(1.0)),
                                                 Store::make("acc", 0, Load::make(Type::f32(), "acc", 0) + var("v", Type::f32())))),
                         IfThenElse::make(i > 0, Store::make("out", i, cast(Type::f32(), i) + reinterpret(Type::f32(), var("bits", Type::u32()))),
                                          Store::make("out", i, Access::make(Type::f32(), "t", {i}))),
                         Barrier::make(),
                     })));
}

TEST(IRMutator, ReturnsTheSameNodeWhenNothingChanges) {
  const Stmt s = every_kind_of_node();
  IRMutator identity;
  EXPECT_TRUE(identity.mutate(s).same_as(s));
  const Expr e = (var("a") + 1) * var("b");
  EXPECT_TRUE(identity.mutate(e).same_as(e));
}

TEST(IRMutator, RebuildsOnlyThePathToAChange) {
  // Renames loads of "x" to "y": the store to acc[0] = 0 is untouched and must be shared.
  struct RenameX : IRMutator {
    using IRMutator::visit;
    Expr visit(const Load* op, const Expr& e) override {
      Expr index = mutate(op->index);
      if (op->buffer != "x") return index.same_as(op->index) ? e : Load::make(op->type.element_of(), op->buffer, index);
      return Load::make(op->type.element_of(), "y", index);
    }
  };
  const Stmt s = every_kind_of_node();
  const Stmt renamed = RenameX().mutate(s);
  ASSERT_FALSE(renamed.same_as(s));
  const auto& before = s.as<For>()->body.as<Allocate>()->body.as<Block>()->stmts;
  const auto& after = renamed.as<For>()->body.as<Allocate>()->body.as<Block>()->stmts;
  ASSERT_EQ(before.size(), after.size());
  EXPECT_TRUE(after[0].same_as(before[0]));
  EXPECT_FALSE(after[1].same_as(before[1]));
  EXPECT_TRUE(after[2].same_as(before[2]));
  EXPECT_NE(to_string(renamed).find("y[ramp(k * 4, 1, 4)]"), std::string::npos);
}

TEST(IRVisitor, VisitsEveryNode) {
  struct Counter : IRVisitor {
    using IRVisitor::visit;
    int loads = 0, stores = 0, vars = 0, barriers = 0;
    void visit(const Load* op) override { ++loads; IRVisitor::visit(op); }
    void visit(const Store* op) override { ++stores; IRVisitor::visit(op); }
    void visit(const Var*) override { ++vars; }
    void visit(const Barrier*) override { ++barriers; }
  } counter;
  counter.walk(every_kind_of_node());
  EXPECT_EQ(counter.loads, 2);
  EXPECT_EQ(counter.stores, 4);
  EXPECT_EQ(counter.barriers, 1);
  // n, k (ramp), k (k < 2), v, i (i > 0), i (out index), i (cast), bits, i (out index), i (access)
  EXPECT_EQ(counter.vars, 10);
}

TEST(Substitute, ReplacesFreeVariablesOnly) {
  const Expr i = var("i"), j = var("j");
  EXPECT_EQ(to_string(substitute(i * 4 + j, {{"i", var("n") - 1}})), "(n - 1) * 4 + j");
  // The loop rebinds i: its bounds see the outer i, its body does not.
  const Stmt loop = For::make("i", i, 4, ForKind::Serial, Store::make("out", i + j, f32(0.0)));
  EXPECT_EQ(to_string(substitute(loop, {{"i", Expr(7)}, {"j", Expr(1)}})),
            "for (i, 7, 4) {\n"
            "  out[i + 1] = 0.0f\n"
            "}\n");
  const Stmt let = LetStmt::make("j", j + 1, Store::make("out", j, f32(0.0)));
  EXPECT_EQ(to_string(substitute(let, {{"j", Expr(5)}})),
            "let j = 5 + 1\n"
            "out[j] = 0.0f\n");
  const Stmt unchanged = Store::make("out", i, f32(0.0));
  EXPECT_TRUE(substitute(unchanged, {{"k", Expr(1)}}).same_as(unchanged));
}

TEST(UsesVar, SeesFreeUsesAndRespectsRebinding) {
  const Expr i = var("i"), k = var("k");
  EXPECT_TRUE(expr_uses_var(Load::make(Type::f32(), "x", i * 2), "i"));
  EXPECT_FALSE(expr_uses_var(Load::make(Type::f32(), "i", k), "i"));  // a buffer is not a variable
  const Stmt loop = For::make("k", 0, var("n"), ForKind::Serial, Store::make("out", k, cast(Type::f32(), k)));
  EXPECT_FALSE(stmt_uses_var(loop, "k"));
  EXPECT_TRUE(stmt_uses_var(loop, "n"));
  const Stmt bound_uses_outer = For::make("k", k, 4, ForKind::Serial, Store::make("out", k, f32(0.0)));
  EXPECT_TRUE(stmt_uses_var(bound_uses_outer, "k"));
  const Stmt let = LetStmt::make("t", i + 1, Store::make("out", var("t"), f32(0.0)));
  EXPECT_TRUE(stmt_uses_var(let, "i"));
  EXPECT_FALSE(stmt_uses_var(let, "t"));
}

}  // namespace
}  // namespace kiln::ir
