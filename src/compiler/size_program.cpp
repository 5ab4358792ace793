#include "compiler/size_program.h"

#include <algorithm>

#include "base/error.h"

namespace kiln::compiler {
namespace {

using graph::SymExpr;

void emit_size(const SymExpr& e, const std::vector<std::string>& symbols, runtime::SizeExpr& out) {
  using Op = runtime::SizeExpr::Op;
  const graph::SymNode& node = e.node();
  switch (node.kind) {
    case graph::SymKind::Const: out.code.push_back({Op::Const, node.value}); return;
    case graph::SymKind::Symbol: {
      const auto it = std::find(symbols.begin(), symbols.end(), node.name);
      KILN_CHECK(it != symbols.end(), "size {} uses symbol '{}', which the graph does not declare", e, node.name);
      out.code.push_back({Op::Symbol, it - symbols.begin()});
      return;
    }
    case graph::SymKind::Sum:
      out.code.push_back({Op::Const, node.value});
      for (const graph::SymTerm& term : node.terms) {
        out.code.push_back({Op::Const, term.coefficient});
        for (const SymExpr& factor : term.factors) {
          emit_size(factor, symbols, out);
          out.code.push_back({Op::Mul});
        }
        out.code.push_back({Op::Add});
      }
      return;
    case graph::SymKind::FloorDiv:
    case graph::SymKind::Mod:
      emit_size(node.operands.at(0), symbols, out);
      out.code.push_back({Op::Const, node.value});
      out.code.push_back({node.kind == graph::SymKind::FloorDiv ? Op::FloorDiv : Op::Mod});
      return;
    case graph::SymKind::Min:
    case graph::SymKind::Max:
      emit_size(node.operands.at(0), symbols, out);
      emit_size(node.operands.at(1), symbols, out);
      out.code.push_back({node.kind == graph::SymKind::Min ? Op::Min : Op::Max});
      return;
  }
  KILN_UNREACHABLE("unknown size kind");
}

}  // namespace

runtime::SizeExpr size_program(const graph::SymExpr& e, const std::vector<std::string>& symbols) {
  runtime::SizeExpr out;
  emit_size(e, symbols, out);
  return out;
}

}  // namespace kiln::compiler
