#include "kernel/ir/printer.h"

#include <charconv>
#include <cmath>
#include <string_view>

namespace kiln::ir {

namespace {

// Binding strength, higher binds tighter (C's order). Atoms: names, constants, calls, loads.
constexpr int kAtom = 100;
constexpr int kUnary = 90;

int precedence(BinaryOp op) {
  switch (op) {
    case BinaryOp::Mul: case BinaryOp::Div: case BinaryOp::Mod: return 80;
    case BinaryOp::Add: case BinaryOp::Sub: return 70;
    case BinaryOp::Shl: case BinaryOp::Shr: return 60;
    case BinaryOp::LT: case BinaryOp::LE: case BinaryOp::GT: case BinaryOp::GE: return 50;
    case BinaryOp::EQ: case BinaryOp::NE: return 45;
    case BinaryOp::BitAnd: return 40;
    case BinaryOp::BitXor: return 35;
    case BinaryOp::BitOr: return 30;
    case BinaryOp::And: return 20;
    case BinaryOp::Or: return 10;
    case BinaryOp::Min: case BinaryOp::Max: return kAtom;  // printed as calls
  }
  return 0;
}

int precedence(const Expr& e) {
  if (const Binary* b = e.as<Binary>()) return precedence(b->op);
  if (e.as<Not>()) return kUnary;
  return kAtom;
}

// The shortest decimal text that reads back as exactly `value`, always looking like a float.
template <typename F>
std::string shortest_decimal(F value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  std::string text(buffer, result.ptr);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string float_constant(const FloatImm* imm) {
  const double value = imm->value;
  if (!std::isfinite(value)) {
    const char* text = std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
    return to_string(imm->type) + "(" + text + ")";
  }
  if (imm->type == Type::f32()) return shortest_decimal(static_cast<float>(value)) + "f";
  if (imm->type == Type::f64()) return shortest_decimal(value);
  return to_string(imm->type) + "(" + shortest_decimal(value) + ")";
}

std::string int_constant(const IntImm* imm) {
  if (imm->type.is_bool()) return imm->value ? "true" : "false";
  // A u64 constant is held as its bit pattern.
  const bool is_u64 = imm->type.is_uint() && imm->type.bits == 64;
  std::string digits = is_u64 ? std::to_string(static_cast<uint64_t>(imm->value)) : std::to_string(imm->value);
  if (imm->type == Type::i64()) return digits;
  return to_string(imm->type) + "(" + digits + ")";
}

class Printer {
 public:
  std::string out;

  void print(const Expr& e) {
    if (!e.defined()) {
      out += "<null>";
      return;
    }
    switch (e.kind()) {
      case ExprKind::IntImm: out += int_constant(e.as<IntImm>()); break;
      case ExprKind::FloatImm: out += float_constant(e.as<FloatImm>()); break;
      case ExprKind::Var: out += e.as<Var>()->name; break;
      case ExprKind::Cast:
        out += to_string(e.type());
        print_args({e.as<Cast>()->value});
        break;
      case ExprKind::Reinterpret:
        out += "reinterpret<" + to_string(e.type()) + ">";
        print_args({e.as<Reinterpret>()->value});
        break;
      case ExprKind::Binary: print_binary(e.as<Binary>()); break;
      case ExprKind::Not:
        out += "!";
        print_operand(e.as<Not>()->value, kUnary);
        break;
      case ExprKind::Select: {
        const Select* op = e.as<Select>();
        out += "select";
        print_args({op->condition, op->true_value, op->false_value});
        break;
      }
      case ExprKind::Load: {
        const Load* op = e.as<Load>();
        out += op->buffer + "[";
        print(op->index);
        out += "]";
        break;
      }
      case ExprKind::Ramp: {
        const Ramp* op = e.as<Ramp>();
        out += "ramp";
        print_args({op->base, op->stride, Expr(op->lanes)});
        break;
      }
      case ExprKind::Broadcast: {
        const Broadcast* op = e.as<Broadcast>();
        out += "broadcast";
        print_args({op->value, Expr(op->lanes)});
        break;
      }
      case ExprKind::Call:
        out += intrinsic_name(e.as<Call>()->op);
        print_args(e.as<Call>()->args);
        break;
      case ExprKind::Access:
        out += e.as<Access>()->tensor;
        print_args(e.as<Access>()->indices);
        break;
    }
  }

  void print(const Stmt& s, int indent) {
    if (!s.defined()) return;
    switch (s.kind()) {
      case StmtKind::For: {
        const For* op = s.as<For>();
        line(indent);
        out += for_kind_name(op->for_kind);
        if (op->for_kind == ForKind::GpuBlock || op->for_kind == ForKind::GpuThread) {
          out += std::string(".") + "xyz"[op->gpu_dim];
        }
        out += " (" + op->var + ", ";
        print(op->min);
        out += ", ";
        print(op->extent);
        out += ") {\n";
        print_scope_body(op->body, indent);
        break;
      }
      case StmtKind::Store: {
        const Store* op = s.as<Store>();
        line(indent);
        out += op->buffer + "[";
        print(op->index);
        out += "] = ";
        print(op->value);
        out += "\n";
        break;
      }
      case StmtKind::LetStmt: {
        // The body follows at the same depth, as in Halide: the binding lasts to the end of
        // the enclosing scope (see Block below for a let that is followed by more statements).
        const LetStmt* op = s.as<LetStmt>();
        line(indent);
        out += "let " + op->name + " = ";
        print(op->value);
        out += "\n";
        print(op->body, indent);
        break;
      }
      case StmtKind::IfThenElse: print_if(s.as<IfThenElse>(), indent, /*is_else_if=*/false); break;
      case StmtKind::Allocate: {
        const Allocate* op = s.as<Allocate>();
        line(indent);
        out += "allocate " + op->name + ": " + to_string(op->element_type) + "[";
        print(op->size);
        out += "] " + std::string(memory_scope_name(op->scope)) + " {\n";
        print_scope_body(op->body, indent);
        break;
      }
      case StmtKind::Barrier:
        line(indent);
        out += "barrier()\n";
        break;
      case StmtKind::Block: {
        const auto& stmts = s.as<Block>()->stmts;
        for (size_t i = 0; i < stmts.size(); ++i) {
          // A let followed by more statements gets braces, so its scope stays visible.
          if (stmts[i].as<LetStmt>() && i + 1 < stmts.size()) {
            line(indent);
            out += "{\n";
            print_scope_body(stmts[i], indent);
          } else {
            print(stmts[i], indent);
          }
        }
        break;
      }
    }
  }

 private:
  void line(int indent) { out.append(static_cast<size_t>(indent) * 2, ' '); }

  // Prints `body` one level deeper, then the closing brace.
  void print_scope_body(const Stmt& body, int indent) {
    print(body, indent + 1);
    line(indent);
    out += "}\n";
  }

  void print_if(const IfThenElse* op, int indent, bool is_else_if) {
    if (!is_else_if) line(indent);
    out += "if (";
    print(op->condition);
    out += ") {\n";
    print(op->then_case, indent + 1);
    line(indent);
    if (const IfThenElse* chained = op->else_case.as<IfThenElse>()) {
      out += "} else ";
      print_if(chained, indent, /*is_else_if=*/true);
      return;
    }
    if (op->else_case.defined()) {
      out += "} else {\n";
      print(op->else_case, indent + 1);
      line(indent);
    }
    out += "}\n";
  }

  void print_args(const std::vector<Expr>& args) {
    out += "(";
    for (size_t i = 0; i < args.size(); ++i) {
      if (i > 0) out += ", ";
      print(args[i]);
    }
    out += ")";
  }

  void print_operand(const Expr& e, int min_precedence) {
    const bool parenthesize = precedence(e) < min_precedence;
    if (parenthesize) out += "(";
    print(e);
    if (parenthesize) out += ")";
  }

  void print_binary(const Binary* op) {
    if (op->op == BinaryOp::Min || op->op == BinaryOp::Max) {
      out += binary_op_name(op->op);
      print_args({op->a, op->b});
      return;
    }
    // Left-associative: a right operand of equal precedence keeps its parentheses,
    // since a - (b - c) and, for floats, a + (b + c) differ from the flat reading.
    const int p = precedence(op->op);
    print_operand(op->a, p);
    out += " ";
    out += binary_op_name(op->op);
    out += " ";
    print_operand(op->b, p + 1);
  }
};

}  // namespace

std::string to_string(const Expr& e) {
  Printer printer;
  printer.print(e);
  return printer.out;
}

std::string to_string(const Stmt& s) {
  Printer printer;
  printer.print(s, 0);
  return printer.out;
}

std::string to_string(const Kernel& kernel) {
  Printer printer;
  std::string& out = printer.out;
  out += "kernel " + kernel.name + "(";
  for (size_t i = 0; i < kernel.buffers.size(); ++i) {
    const BufferParam& buffer = kernel.buffers[i];
    if (i > 0) out += ", ";
    out += buffer.name + ": " + to_string(buffer.element_type) + "*";
    if (buffer.is_output) out += " [out]";
  }
  if (!kernel.size_params.empty()) {
    out += "; sizes: ";
    for (size_t i = 0; i < kernel.size_params.size(); ++i) {
      if (i > 0) out += ", ";
      out += kernel.size_params[i];
    }
  }
  out += ")";
  auto print_dims = [&](std::string_view label, const std::vector<Expr>& dims) {
    if (dims.empty()) return;
    out += " ";
    out += label;
    out += "(";
    for (size_t i = 0; i < dims.size(); ++i) {
      if (i > 0) out += ", ";
      printer.print(dims[i]);
    }
    out += ")";
  };
  print_dims("grid", kernel.grid);
  print_dims("block", kernel.block);
  out += " {\n";
  printer.print(kernel.body, 1);
  out += "}\n";
  return out;
}

std::ostream& operator<<(std::ostream& os, Type type) { return os << to_string(type); }
std::ostream& operator<<(std::ostream& os, const Expr& e) { return os << to_string(e); }
std::ostream& operator<<(std::ostream& os, const Stmt& s) { return os << to_string(s); }
std::ostream& operator<<(std::ostream& os, const Kernel& kernel) { return os << to_string(kernel); }

}  // namespace kiln::ir
