#include "codegen/opencl/opencl_codegen.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/error.h"
#include "kernel/ir/equal.h"
#include "kernel/ir/evaluate.h"
#include "kernel/ir/verify.h"
#include "kernel/lower/gpu_ids.h"

namespace kiln::codegen {
namespace {

using namespace ir;

// C operator precedence, higher binds tighter. An operand is parenthesized when its own
// precedence is below what its position needs.
enum Prec : int {
  kCond = 3, kLogOr = 4, kLogAnd = 5, kBitOr = 6, kBitXor = 7, kBitAnd = 8, kEquality = 9,
  kRelational = 10, kShift = 11, kAdditive = 12, kMultiplicative = 13, kUnary = 15, kAtom = 16,
};

// Emitted expression text. A vector of bools is held as an OpenCL comparison mask: a signed
// integer vector whose lanes are -1 (true) or 0 (false); `mask_bits` is its lane width.
struct Code {
  std::string text;
  int prec = kAtom;
  int mask_bits = 0;
};

bool is_bool_vector(Type t) { return t.is_bool() && t.is_vector(); }

bool supported_lanes(int lanes) {
  return lanes == 1 || lanes == 2 || lanes == 3 || lanes == 4 || lanes == 8 || lanes == 16;
}

// The OpenCL scalar type that holds one element of `t` in registers. f16 is computed in f32.
std::string element_name(Type t) {
  switch (t.kind) {
    case TypeKind::Int:
      switch (t.bits) {
        case 8: return "char";
        case 16: return "short";
        case 32: return "int";
        case 64: return "long";
      }
      break;
    case TypeKind::UInt:
      switch (t.bits) {
        case 8: return "uchar";
        case 16: return "ushort";
        case 32: return "uint";
        case 64: return "ulong";
      }
      break;
    case TypeKind::Float:
      switch (t.bits) {
        case 16: return "float";
        case 32: return "float";
        case 64: return "double";
      }
      break;
    case TypeKind::Bool: return "bool";
  }
  KILN_UNREACHABLE("the OpenCL back end has no type for {}", to_string(t));
  return "";
}

// Lane width of the registers that hold `t` (f16 is held in f32).
int register_bits(Type t) { return t.is_float() && t.bits == 16 ? 32 : t.bits; }

std::string lane_suffix(int lanes) { return lanes == 1 ? "" : std::to_string(lanes); }

// ".s0" ... ".sf": one lane of a vector.
std::string lane(int i) { return fmt::format(".s{:x}", i); }

// Identifiers that generated code uses itself, so kernel names must not shadow them.
const std::set<std::string>& reserved_identifiers() {
  static const std::set<std::string> words = {
      // C and OpenCL C keywords and types
      "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
      "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
      "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
      "union", "unsigned", "void", "volatile", "while", "bool", "true", "false", "half", "uchar",
      "ushort", "uint", "ulong", "size_t", "ptrdiff_t", "intptr_t", "uintptr_t", "kernel",
      "global", "local", "constant", "private", "read_only", "write_only", "read_write",
      "complex", "imaginary", "image2d_t", "image3d_t", "sampler_t", "event_t", "NULL",
      // built-ins and macros that generated code calls
      "get_group_id", "get_local_id", "barrier", "min", "max", "fmin", "fmax", "fmod", "exp",
      "log", "sqrt", "rsqrt", "tanh", "erf", "sin", "cos", "pow", "fabs", "abs", "floor",
      "select", "vload_half", "vstore_half", "as_float", "as_uint", "INFINITY", "NAN",
      "CLK_LOCAL_MEM_FENCE", "CLK_GLOBAL_MEM_FENCE",
  };
  return words;
}

bool is_reserved(const std::string& id) {
  if (reserved_identifiers().count(id)) return true;
  // kiln_ names are generated helpers and temporaries; __ names belong to the implementation.
  for (const char* prefix : {"kiln_", "__", "convert_", "as_", "vload", "vstore", "get_"}) {
    if (id.rfind(prefix, 0) == 0) return true;
  }
  // Vector type names: float4, uchar16, ...
  for (const char* base : {"char", "uchar", "short", "ushort", "int", "uint", "long", "ulong",
                           "float", "double", "half", "bool"}) {
    const std::string b = base;
    if (id.size() > b.size() && id.compare(0, b.size(), b) == 0 &&
        id.find_first_not_of("0123456789", b.size()) == std::string::npos) {
      return true;
    }
  }
  return false;
}

// A valid C identifier for a kiln name ("blk.0.attn_q" -> "blk_0_attn_q").
std::string sanitize(const std::string& name) {
  std::string id;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    id += ok ? c : '_';
  }
  if (id.empty() || (id[0] >= '0' && id[0] <= '9')) id = "v" + id;
  if (is_reserved(id)) id = "v_" + id;
  return id;
}

// Integer literal of exactly type `t`.
Code int_literal(Type t, int64_t v) {
  if (t.is_bool()) return {v ? "true" : "false", kAtom};
  const std::string name = element_name(t);
  std::string digits;
  if (t.is_uint()) {
    const uint64_t mask = t.bits == 64 ? ~uint64_t{0} : (uint64_t{1} << t.bits) - 1;
    digits = std::to_string(static_cast<uint64_t>(v) & mask);
  } else if (v == std::numeric_limits<int64_t>::min()) {
    return {"(-9223372036854775807L - 1L)", kAtom};
  } else if (t.bits == 32 && v == std::numeric_limits<int32_t>::min()) {
    return {"(-2147483647 - 1)", kAtom};
  } else {
    digits = std::to_string(v);
  }
  std::string text;
  if (t.bits == 64) text = digits + (t.is_uint() ? "UL" : "L");
  else if (t.bits == 32) text = digits + (t.is_uint() ? "U" : "");
  else return {"(" + name + ")" + digits, kUnary};
  return {text, text[0] == '-' ? kUnary : kAtom};
}

bool fits_int32(Type t, int64_t v) {
  if (t.is_uint()) return v >= 0 && v <= std::numeric_limits<int32_t>::max() && (t.bits == 64 || v < (int64_t{1} << t.bits));
  if (t.bits < 64 && (v < -(int64_t{1} << (t.bits - 1)) || v >= (int64_t{1} << (t.bits - 1)))) return false;
  return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
}

Code float_literal(Type t, double v) {
  const bool is_double = t.bits == 64;
  if (std::isnan(v)) return {is_double ? "(double)NAN" : "NAN", is_double ? kUnary : kAtom};
  if (std::isinf(v)) {
    std::string text = is_double ? "(double)INFINITY" : "INFINITY";
    if (v < 0) return {"-" + text, kUnary};
    return {text, is_double ? kUnary : kAtom};
  }
  std::string digits = is_double ? fmt::format("{}", v) : fmt::format("{}", static_cast<float>(v));
  if (digits.find_first_of(".e") == std::string::npos) digits += ".0";
  if (!is_double) digits += "f";
  return {digits, digits[0] == '-' ? kUnary : kAtom};
}

void collect_stored_buffers(const Stmt& s, std::set<std::string>& out) {
  if (!s.defined()) return;
  switch (s.kind()) {
    case StmtKind::Store: out.insert(s.as<Store>()->buffer); break;
    case StmtKind::For: collect_stored_buffers(s.as<For>()->body, out); break;
    case StmtKind::LetStmt: collect_stored_buffers(s.as<LetStmt>()->body, out); break;
    case StmtKind::Allocate: collect_stored_buffers(s.as<Allocate>()->body, out); break;
    case StmtKind::IfThenElse:
      collect_stored_buffers(s.as<IfThenElse>()->then_case, out);
      collect_stored_buffers(s.as<IfThenElse>()->else_case, out);
      break;
    case StmtKind::Block:
      for (const Stmt& c : s.as<Block>()->stmts) collect_stored_buffers(c, out);
      break;
    case StmtKind::Barrier: break;
  }
}

// How a buffer's elements are read and written.
enum class Storage : uint8_t {
  Plain,     // p[i], vloadN / vstoreN
  Half,      // f16 in memory, f32 in registers: vload_half / vstore_half
  BoolByte,  // bool in memory as one uchar (0 or 1)
};

struct BufferInfo {
  std::string ident;
  Type element_type;
  std::string address_space;  // "__global", "__local", "__private"
  Storage storage = Storage::Plain;
};

class OpenCLEmitter {
 public:
  explicit OpenCLEmitter(const Kernel& kernel) : kernel_(kernel) {}

  OpenCLCode run() {
    const std::string function_name = sanitize(kernel_.name.empty() ? "kernel_main" : kernel_.name);
    std::set<std::string> stored;
    collect_stored_buffers(kernel_.body, stored);

    std::vector<std::string> params;
    for (const BufferParam& b : kernel_.buffers) {
      const Storage storage = b.element_type.is_bool() ? Storage::BoolByte
                              : (b.element_type.is_float() && b.element_type.bits == 16) ? Storage::Half
                                                                                            : Storage::Plain;
      KILN_CHECK(!b.element_type.is_vector(), "buffer {} has vector elements", b.name);
      const std::string ident = bind_name(b.name);
      buffers_[b.name].push_back({ident, b.element_type, "__global", storage});
      const bool read_only = !b.is_output && !stored.count(b.name);
      params.push_back(fmt::format("__global {}{}* restrict {}", read_only ? "const " : "",
                                   memory_element_name(b.element_type, storage), ident));
    }
    for (const std::string& s : kernel_.size_params) {
      const std::string ident = bind_name(s);
      vars_[s].push_back({ident});
      params.push_back("const long " + ident);
    }

    indent_ = 1;
    emit_stmt(kernel_.body, /*tail=*/true);

    std::ostringstream src;
    src << "// Generated by kiln from kernel `" << kernel_.name << "`.\n";
    if (uses_fp64_) src << "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n";
    src << "\n";
    for (const std::string& h : helpers_) src << h << "\n";
    src << "__kernel ";
    if (std::string attr = work_group_size_attribute(); !attr.empty()) src << attr << "\n";
    src << "void " << function_name << "(";
    const std::string param_indent(function_name.size() + 6, ' ');
    for (size_t i = 0; i < params.size(); ++i) {
      if (i > 0) src << ",\n" << param_indent;
      src << params[i];
    }
    src << ") {\n";
    for (const std::string& d : local_declarations_) src << "  " << d << "\n";
    if (!local_declarations_.empty()) src << "\n";
    src << body_.str() << "}\n";
    return {src.str(), function_name};
  }

 private:
  struct VarBinding {
    std::string ident;
  };

  // --- names -----------------------------------------------------------------------------------

  // An identifier for a new binding of `name`: its sanitized form, made unique against other
  // names, and fresh when the same identifier is still in scope (C would shadow it too early).
  std::string bind_name(const std::string& name) {
    auto it = base_ident_.find(name);
    std::string ident;
    if (it == base_ident_.end()) {
      ident = unique_ident(sanitize(name));
      base_ident_[name] = ident;
    } else {
      ident = it->second;
    }
    if (in_scope_.count(ident)) ident = unique_ident(ident);
    in_scope_.insert(ident);
    return ident;
  }

  std::string unique_ident(const std::string& base) {
    std::string ident = base;
    for (int n = 1; taken_.count(ident); ++n) ident = fmt::format("{}_{}", base, n);
    taken_.insert(ident);
    return ident;
  }

  void unbind_var(const std::string& name) {
    in_scope_.erase(vars_[name].back().ident);
    vars_[name].pop_back();
  }

  void unbind_buffer(const std::string& name) {
    in_scope_.erase(buffers_[name].back().ident);
    buffers_[name].pop_back();
  }

  const BufferInfo& buffer(const std::string& name) {
    auto it = buffers_.find(name);
    KILN_CHECK(it != buffers_.end() && !it->second.empty(), "kernel {} uses buffer {}, which is neither a "
               "parameter nor an allocation in scope", kernel_.name, name);
    return it->second.back();
  }

  // --- types -----------------------------------------------------------------------------------

  std::string type_name(Type t) {
    KILN_CHECK(supported_lanes(t.lanes), "OpenCL has no {}-lane vectors (type {})", t.lanes, to_string(t));
    KILN_CHECK(!is_bool_vector(t), "a bool vector has no OpenCL value type");
    if (t.is_float() && t.bits == 64) uses_fp64_ = true;
    return element_name(t) + lane_suffix(t.lanes);
  }

  // Signed integer vector holding a mask of `lanes` lanes, each `bits` wide.
  std::string mask_type(int bits, int lanes) { return type_name(Type{TypeKind::Int, static_cast<uint8_t>(bits), 1}.with_lanes(lanes)); }

  std::string memory_element_name(Type element, Storage storage) {
    switch (storage) {
      case Storage::Half: return "half";
      case Storage::BoolByte: return "uchar";
      case Storage::Plain: break;
    }
    return type_name(element);
  }

  // --- expressions -----------------------------------------------------------------------------

  std::string operand(const Code& c, int min_prec) { return c.prec >= min_prec ? c.text : "(" + c.text + ")"; }
  std::string operand(const Expr& e, int min_prec) { return operand(emit(e), min_prec); }
  std::string text(const Expr& e) { return emit(e).text; }
  // For a context that converts to a known integer type anyway (an index, a loop bound, an
  // initializer): small constants without a suffix, `a[0]` rather than `a[0L]`.
  std::string plain_text(const Expr& e) {
    if (const IntImm* imm = e.as<IntImm>(); imm && e.type().is_integer() && fits_int32(e.type(), imm->value)) {
      return std::to_string(imm->value);
    }
    return text(e);
  }

  // A vector bool as a mask with lanes `bits` wide.
  Code mask_code(const Expr& e, int bits) {
    Code c = emit(e);
    KILN_CHECK(c.mask_bits > 0, "expected a vector bool, got {}", to_string(e.type()));
    if (c.mask_bits == bits) return c;
    return {fmt::format("convert_{}({})", mask_type(bits, e.type().lanes), c.text), kAtom, bits};
  }
  std::string mask(const Expr& e, int bits) { return mask_code(e, bits).text; }

  // Operand of a binary operator whose other side is `other`. A constant or a broadcast meets
  // a non-constant with C's own conversions, so it is written as a bare scalar when that keeps
  // the type: `i + 1`, `v * 2.0f`.
  // Masks (`bits`) read best in hex.
  Code binary_operand(const Expr& e, const Expr& other, bool literal_may_be_int, bool bits = false) {
    if (const IntImm* imm = e.as<IntImm>(); imm && literal_may_be_int && !other.as<IntImm>() &&
                                              e.type().is_integer() && fits_int32(e.type(), imm->value)) {
      if (bits && imm->value > 255) return {fmt::format("{:#x}", imm->value), kAtom};
      return {std::to_string(imm->value), imm->value < 0 ? kUnary : kAtom};
    }
    if (const Broadcast* b = e.as<Broadcast>(); b && !other.as<Broadcast>() && !e.type().is_bool()) {
      return emit(b->value);  // exactly the element type: OpenCL widens it
    }
    return emit(e);
  }

  Code emit(const Expr& e) {
    KILN_CHECK(e.defined(), "null expression in kernel {}", kernel_.name);
    switch (e.kind()) {
      case ExprKind::IntImm: return int_literal(e.type(), e.as<IntImm>()->value);
      case ExprKind::FloatImm: {
        if (e.type().bits == 64) uses_fp64_ = true;
        return float_literal(e.type(), e.as<FloatImm>()->value);
      }
      case ExprKind::Var: return emit_var(e.as<Var>());
      case ExprKind::Cast: return emit_cast(e.as<Cast>());
      case ExprKind::Reinterpret: return emit_reinterpret(e.as<Reinterpret>());
      case ExprKind::Binary: return emit_binary(e.as<Binary>());
      case ExprKind::Not: {
        const Not* op = e.as<Not>();
        if (is_bool_vector(op->type)) {
          Code c = emit(op->value);
          return {"~" + operand(c, kUnary), kUnary, c.mask_bits};
        }
        return {"!" + operand(op->value, kUnary), kUnary};
      }
      case ExprKind::Select: return emit_select(e.as<Select>());
      case ExprKind::Load: return emit_load(e.as<Load>());
      case ExprKind::Ramp: return emit_ramp(e.as<Ramp>());
      case ExprKind::Broadcast: {
        const Broadcast* op = e.as<Broadcast>();
        if (op->type.is_bool()) {
          if (const IntImm* imm = op->value.as<IntImm>()) {
            return {fmt::format("({})({})", mask_type(32, op->lanes), imm->value ? -1 : 0), kUnary, 32};
          }
          return {fmt::format("({})(-(int){})", mask_type(32, op->lanes), operand(op->value, kUnary)), kUnary, 32};
        }
        return {fmt::format("({})({})", type_name(op->type), text(op->value)), kUnary};
      }
      case ExprKind::Call: return emit_call(e.as<Call>());
      case ExprKind::Access:
        KILN_UNREACHABLE("kernel {} still reads tensor {} by Access; lower it to Loads first",
                   kernel_.name, e.as<Access>()->tensor);
    }
    KILN_UNREACHABLE("unknown expression kind");
    return {};
  }

  Code emit_var(const Var* op) {
    auto it = vars_.find(op->name);
    KILN_CHECK(it != vars_.end() && !it->second.empty(),
               "kernel {} uses variable {}, which is not bound here", kernel_.name, op->name);
    const VarBinding& b = it->second.back();
    return {b.ident, kAtom, is_bool_vector(op->type) ? 32 : 0};
  }

  Code emit_cast(const Cast* op) {
    const Type to = op->type, from = op->value.type();
    if (to.is_vector()) {
      if (to.is_bool()) {  // x != 0, lane by lane
        Code c = emit(op->value);
        if (from.is_bool()) return c;
        const std::string zero = fmt::format("({})0", type_name(from));
        return {operand(c, kEquality + 1) + " != " + zero, kEquality, register_bits(from)};
      }
      if (from.is_bool()) {  // mask -1/0 -> 1/0
        Code c = emit(op->value);
        return {fmt::format("convert_{}(-{})", type_name(to), operand(c, kUnary)), kAtom};
      }
      if (register_bits(to) == register_bits(from) && element_name(to) == element_name(from)) {
        return emit(op->value);  // f16 <-> f32: the same registers
      }
      return {fmt::format("convert_{}({})", type_name(to), text(op->value)), kAtom};
    }
    if (to.is_bool()) return {operand(op->value, kEquality + 1) + " != 0", kEquality};
    if (element_name(to) == element_name(from)) return emit(op->value);
    return {"(" + type_name(to) + ")" + operand(op->value, kUnary), kUnary};
  }

  Code emit_reinterpret(const Reinterpret* op) {
    const Type to = op->type, from = op->value.type();
    KILN_CHECK(!to.is_bool() && !from.is_bool(), "Reinterpret of bools: {} -> {}", to_string(from), to_string(to));
    KILN_CHECK(!(to.is_float() && to.bits == 16) && !(from.is_float() && from.bits == 16),
               "Reinterpret of f16 ({} -> {}) is not supported by the OpenCL back end, which holds f16 "
               "in f32 registers; load the bits as u16 and use F16BitsToF32", to_string(from), to_string(to));
    return {fmt::format("as_{}({})", type_name(to), text(op->value)), kAtom};
  }

  Code emit_binary(const Binary* op) {
    const Type t = op->a.type();
    const bool vector = t.is_vector();

    if (t.is_bool() && vector) {  // operations on masks
      const Code a = emit(op->a);
      const int bits = a.mask_bits;
      const Code b = mask_code(op->b, bits);
      auto infix = [&](const char* sym, int prec, int result_bits) {
        return Code{operand(a, kMultiplicative) + " " + sym + " " + operand(b, kMultiplicative), prec, result_bits};
      };
      switch (op->op) {
        case BinaryOp::And: case BinaryOp::BitAnd: case BinaryOp::Min: return infix("&", kBitAnd, bits);
        case BinaryOp::Or: case BinaryOp::BitOr: case BinaryOp::Max: return infix("|", kBitOr, bits);
        case BinaryOp::BitXor: case BinaryOp::NE: return infix("^", kBitXor, bits);
        case BinaryOp::EQ: return infix("==", kEquality, bits);
        default:
          KILN_UNREACHABLE("operator {} on bool vectors", binary_op_name(op->op));
      }
    }

    if (op->op == BinaryOp::Min || op->op == BinaryOp::Max) {
      const bool is_min = op->op == BinaryOp::Min;
      if (t.is_bool()) {  // scalar bools
        return {operand(op->a, kLogAnd + 1) + (is_min ? " && " : " || ") + operand(op->b, kLogAnd + 1),
                is_min ? kLogAnd : kLogOr};
      }
      const char* fn = t.is_float() ? (is_min ? "fmin" : "fmax") : (is_min ? "min" : "max");
      return {fmt::format("{}({}, {})", fn, text(op->a), text(op->b)), kAtom};
    }
    if (op->op == BinaryOp::Mod && t.is_float()) {
      return {fmt::format("fmod({}, {})", text(op->a), text(op->b)), kAtom};
    }

    const char* sym = binary_op_name(op->op);
    int prec = 0;
    // Operands of bitwise and logical operators are parenthesized unless they are the same
    // operator or tighter than arithmetic, so `a & b == c` never appears.
    int min_left = 0, min_right = 0;
    bool literal_int_left = true;
    switch (op->op) {
      case BinaryOp::Mul: case BinaryOp::Div: case BinaryOp::Mod:
        prec = kMultiplicative; min_left = prec; min_right = prec + 1; break;
      case BinaryOp::Add: case BinaryOp::Sub:
        prec = kAdditive; min_left = prec; min_right = prec + 1; break;
      case BinaryOp::Shl: case BinaryOp::Shr:
        prec = kShift; min_left = kMultiplicative + 1; min_right = kMultiplicative + 1;
        literal_int_left = false;  // `1 << n` would shift an int
        break;
      case BinaryOp::LT: case BinaryOp::LE: case BinaryOp::GT: case BinaryOp::GE:
        prec = kRelational; min_left = kAdditive; min_right = kAdditive; break;
      case BinaryOp::EQ: case BinaryOp::NE:
        prec = kEquality; min_left = kAdditive; min_right = kAdditive; break;
      case BinaryOp::BitAnd: prec = kBitAnd; min_left = min_right = kMultiplicative + 1; break;
      case BinaryOp::BitXor: prec = kBitXor; min_left = min_right = kMultiplicative + 1; break;
      case BinaryOp::BitOr: prec = kBitOr; min_left = min_right = kMultiplicative + 1; break;
      case BinaryOp::And: prec = kLogAnd; min_left = kBitOr; min_right = kBitOr; break;
      case BinaryOp::Or: prec = kLogOr; min_left = kBitOr; min_right = kBitOr; break;
      default: KILN_UNREACHABLE("unhandled binary operator {}", binary_op_name(op->op));
    }
    const bool bitwise = op->op == BinaryOp::BitAnd || op->op == BinaryOp::BitOr || op->op == BinaryOp::BitXor;
    Code a = binary_operand(op->a, op->b, literal_int_left, bitwise);
    Code b = binary_operand(op->b, op->a, true, bitwise);
    // An operand that is the same associative operator needs no parentheses: a & b & c.
    auto same_op = [&](const Expr& e) {
      const Binary* inner = e.as<Binary>();
      return inner && inner->op == op->op &&
             (op->op == BinaryOp::BitAnd || op->op == BinaryOp::BitOr || op->op == BinaryOp::BitXor ||
              op->op == BinaryOp::And || op->op == BinaryOp::Or);
    };
    std::string lhs = same_op(op->a) ? a.text : operand(a, min_left);
    std::string rhs = operand(b, min_right);
    Code result{lhs + " " + sym + " " + rhs, prec};
    if (is_comparison(op->op)) {
      if (vector) result.mask_bits = register_bits(t);
      return result;
    }
    // C promotes char and short to int; narrow the result back so it wraps like the IR says.
    if (!vector && t.is_integer() && t.bits < 32) {
      return {"(" + type_name(t) + ")(" + result.text + ")", kUnary};
    }
    return result;
  }

  Code emit_select(const Select* op) {
    const Type t = op->type;
    if (!t.is_vector()) {
      Code c{operand(op->condition, kLogOr) + " ? " + operand(op->true_value, kLogOr) + " : " +
                 operand(op->false_value, kCond),
             kCond};
      if (t.is_integer() && t.bits < 32) return {"(" + type_name(t) + ")(" + c.text + ")", kUnary};
      return c;
    }
    // OpenCL's select(a, b, c) takes b where the top bit of c's lane is set: a mask as wide as
    // the values' lanes.
    if (t.is_bool()) {
      return {fmt::format("select({}, {}, {})", mask(op->false_value, 32), mask(op->true_value, 32),
                          mask(op->condition, 32)),
              kAtom, 32};
    }
    return {fmt::format("select({}, {}, {})", text(op->false_value), text(op->true_value),
                        mask(op->condition, register_bits(t))),
            kAtom};
  }

  // Index of lane 0 when `index` is a Ramp of stride 1 that vloadN/vstoreN can serve.
  const Expr* dense_base(const Expr& index) {
    const Ramp* r = index.as<Ramp>();
    if (!r) return nullptr;
    const int64_t* stride = as_const_int(r->stride);
    if (!stride || *stride != 1 || r->lanes == 1 || !supported_lanes(r->lanes)) return nullptr;
    return &r->base;
  }

  std::string pointer_plus(const BufferInfo& b, const Expr& offset) {
    if (const int64_t* c = as_const_int(offset); c && *c == 0) return b.ident;
    return b.ident + " + " + operand(offset, kAdditive + 1);
  }

  // The index vector as i64 lanes, for the gather and scatter helpers.
  std::string index_vector(const Expr& index) {
    const Type t = index.type();
    if (t.element_of() == Type::i64()) return text(index);
    return fmt::format("convert_{}({})", type_name(Type::i64().with_lanes(t.lanes)), text(index));
  }

  Code emit_load(const Load* op) {
    const BufferInfo& b = buffer(op->buffer);
    const Type t = op->type;
    KILN_CHECK(t.element_of() == b.element_type, "Load of {} from buffer {} of {}", to_string(t), op->buffer,
               to_string(b.element_type));
    if (b.storage == Storage::BoolByte) {
      if (!t.is_vector()) return {b.ident + "[" + plain_text(op->index) + "] != 0", kEquality};
      const Type bytes = Type::u8().with_lanes(t.lanes);
      return {fmt::format("{} != ({})0", load_values(b, op->index, bytes, "uchar"), type_name(bytes)), kEquality, 8};
    }
    if (b.storage == Storage::Half) return {load_values(b, op->index, t, "half"), kAtom};
    if (!t.is_vector()) return {b.ident + "[" + plain_text(op->index) + "]", kAtom};
    return {load_values(b, op->index, t, type_name(t.element_of())), kAtom};
  }

  // A vector (or scalar) read of `t` from a buffer whose memory elements are `memory_type`.
  std::string load_values(const BufferInfo& b, const Expr& index, Type t, const std::string& memory_type) {
    const bool half = memory_type == "half";
    if (!t.is_vector()) {
      if (half) return fmt::format("vload_half({}, {})", plain_text(index), b.ident);
      return b.ident + "[" + plain_text(index) + "]";
    }
    const std::string n = std::to_string(t.lanes);
    if (const Expr* base = dense_base(index)) {
      return fmt::format("{}{}(0, {})", half ? "vload_half" : "vload", n, pointer_plus(b, *base));
    }
    return fmt::format("{}({}, {})", gather_helper(b, t, memory_type), b.ident, index_vector(index));
  }

  std::string gather_helper(const BufferInfo& b, Type t, const std::string& memory_type) {
    const bool half = memory_type == "half";
    const std::string value_type = half ? type_name(Type::f32().with_lanes(t.lanes)) : type_name(t);
    const std::string space = b.address_space.substr(2);  // "global", "local", "private"
    const std::string name = fmt::format("kiln_gather_{}_{}{}", space, memory_type, t.lanes);
    std::vector<std::string> lanes;
    for (int i = 0; i < t.lanes; ++i) {
      lanes.push_back(half ? fmt::format("vload_half(index{}, p)", lane(i)) : fmt::format("p[index{}]", lane(i)));
    }
    add_helper(name, fmt::format("static inline {} {}(const {} {}* p, {} index) {{\n  return ({})({});\n}}\n",
                                 value_type, name, b.address_space, memory_type,
                                 type_name(Type::i64().with_lanes(t.lanes)), value_type, fmt::join(lanes, ", ")));
    return name;
  }

  Code emit_ramp(const Ramp* op) {
    const Type t = op->type;
    const std::string vtype = type_name(t);
    // base + (T)(0, s, 2s, ...) for a constant integer stride s, else base + (T)(0, 1, ...) * s.
    const int64_t* stride = as_const_int(op->stride);
    std::vector<std::string> offsets;
    for (int i = 0; i < op->lanes; ++i) {
      offsets.push_back(t.is_float() ? float_literal(t.element_of(), i).text
                                     : std::to_string(stride ? *stride * i : i));
    }
    Code steps{fmt::format("({})({})", vtype, fmt::join(offsets, ", ")), kUnary};
    if (!stride) steps = {steps.text + " * " + operand(op->stride, kMultiplicative + 1), kMultiplicative};
    const int64_t* base = as_const_int(op->base);
    if (base && *base == 0) return steps;
    return {operand(op->base, kAdditive) + " + " + operand(steps, kAdditive + 1), kAdditive};
  }

  Code emit_call(const Call* op) {
    const Type t = op->type;
    const Expr& x = op->args[0];
    switch (op->op) {
      case Intrinsic::Exp: case Intrinsic::Log: case Intrinsic::Sqrt: case Intrinsic::Rsqrt:
      case Intrinsic::Tanh: case Intrinsic::Erf: case Intrinsic::Sin: case Intrinsic::Cos:
      case Intrinsic::Floor:
        return {fmt::format("{}({})", intrinsic_name(op->op), text(x)), kAtom};
      case Intrinsic::Pow:
        KILN_CHECK(t.is_float(), "pow of {}", to_string(t));
        return {fmt::format("pow({}, {})", text(x), text(op->args[1])), kAtom};
      case Intrinsic::Abs:
        if (t.is_float()) return {fmt::format("fabs({})", text(x)), kAtom};
        if (t.is_uint()) return emit(x);
        KILN_CHECK(t.is_int(), "abs of {}", to_string(t));
        // OpenCL's abs returns the unsigned type; the IR keeps the signed one (abs(MIN) == MIN).
        if (t.is_vector()) return {fmt::format("as_{}(abs({}))", type_name(t), text(x)), kAtom};
        return {fmt::format("({})abs({})", type_name(t), text(x)), kUnary};
      case Intrinsic::F16BitsToF32:
        return {fmt::format("{}({})", f16_helper(x.type().lanes), text(x)), kAtom};
      case Intrinsic::DotU8S8: case Intrinsic::DotS8S8: {
        // OpenCL C 1.2 has no packed dot product: the bytes one by one.
        std::string sum = operand(x, kAdditive);
        const char* a_type = op->op == Intrinsic::DotU8S8 ? "uchar" : "char";
        for (int q = 0; q < 4; ++q) {
          sum += fmt::format(" + (int)({})({} >> {}) * (int)(char)({} >> {})", a_type, operand(op->args[1], kShift + 1),
                             8 * q, operand(op->args[2], kShift + 1), 8 * q);
        }
        KILN_CHECK(!t.is_vector(), "{} of a vector in OpenCL C", intrinsic_name(op->op));
        return {sum, kAdditive};
      }
      case Intrinsic::GpuBlockId:
        return {fmt::format("(long)get_group_id({})", *as_const_int(x)), kUnary};
      case Intrinsic::GpuThreadId:
        return {fmt::format("(long)get_local_id({})", *as_const_int(x)), kUnary};
      case Intrinsic::ReduceAdd: case Intrinsic::ReduceMax: case Intrinsic::ReduceMin: {
        const Type v = x.type();
        if (!v.is_vector()) return emit(x);
        KILN_CHECK(!v.is_bool(), "{} of a bool vector", intrinsic_name(op->op));
        return {fmt::format("{}({})", reduce_helper(op->op, v), text(x)), kAtom};
      }
    }
    KILN_UNREACHABLE("unknown intrinsic");
    return {};
  }

  // --- helpers: generated functions that keep each argument evaluated once ----------------------

  void add_helper(const std::string& name, const std::string& definition) {
    if (helper_names_.insert(name).second) helpers_.push_back(definition);
  }

  std::string f16_helper(int lanes) {
    const std::string scalar = "kiln_f16_bits_to_f32";
    add_helper(scalar,
               "// IEEE half bits -> float with integer operations (no cl_khr_fp16 needed).\n"
               "static inline float kiln_f16_bits_to_f32(ushort h) {\n"
               "  const uint sign = ((uint)h & 0x8000u) << 16;\n"
               "  const uint exponent = ((uint)h >> 10) & 0x1fu;\n"
               "  const uint mantissa = (uint)h & 0x3ffu;\n"
               "  if (exponent == 0x1fu) return as_float(sign | 0x7f800000u | (mantissa << 13));  // inf, nan\n"
               "  if (exponent != 0) return as_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));\n"
               "  // zero and subnormals: mantissa * 2^-24 is exact in float\n"
               "  const float magnitude = (float)mantissa * 5.9604644775390625e-8f;\n"
               "  return sign ? -magnitude : magnitude;\n"
               "}\n");
    if (lanes == 1) return scalar;
    const std::string name = fmt::format("{}x{}", scalar, lanes);
    std::vector<std::string> parts;
    for (int i = 0; i < lanes; ++i) parts.push_back(fmt::format("{}(h{})", scalar, lane(i)));
    add_helper(name, fmt::format("static inline float{} {}(ushort{} h) {{\n  return (float{})({});\n}}\n", lanes,
                                 name, lanes, lanes, fmt::join(parts, ", ")));
    return name;
  }

  std::string reduce_helper(Intrinsic op, Type v) {
    const std::string vtype = type_name(v), etype = type_name(v.element_of());
    const char* what = op == Intrinsic::ReduceAdd ? "add" : op == Intrinsic::ReduceMax ? "max" : "min";
    const std::string name = fmt::format("kiln_reduce_{}_{}", what, vtype);
    std::string body = "v.s0";
    for (int i = 1; i < v.lanes; ++i) {
      if (op == Intrinsic::ReduceAdd) {
        body = fmt::format("{} + v{}", body, lane(i));
      } else {
        const char* fn = v.is_float() ? (op == Intrinsic::ReduceMax ? "fmax" : "fmin")
                                      : (op == Intrinsic::ReduceMax ? "max" : "min");
        body = fmt::format("{}({}, v{})", fn, body, lane(i));
      }
    }
    add_helper(name, fmt::format("static inline {} {}({} v) {{\n  return {};\n}}\n", etype, name, vtype, body));
    return name;
  }

  // --- statements ------------------------------------------------------------------------------

  void line(const std::string& s) { body_ << std::string(2 * indent_, ' ') << s << "\n"; }

  // Emits `s`. A statement in tail position is the last of its C block, so declarations it makes
  // need no braces of their own.
  void emit_stmt(const Stmt& s, bool tail) {
    if (!s.defined()) return;
    switch (s.kind()) {
      case StmtKind::For: emit_for(s.as<For>(), tail); break;
      case StmtKind::Store: emit_store(s.as<Store>()); break;
      case StmtKind::LetStmt: emit_let(s.as<LetStmt>(), tail); break;
      case StmtKind::IfThenElse: emit_if(s.as<IfThenElse>()); break;
      case StmtKind::Allocate: emit_allocate(s.as<Allocate>(), tail); break;
      case StmtKind::Barrier: line("barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);"); break;
      case StmtKind::Block: {
        const auto& stmts = s.as<Block>()->stmts;
        for (size_t i = 0; i < stmts.size(); ++i) emit_stmt(stmts[i], tail && i + 1 == stmts.size());
        break;
      }
    }
  }

  void open_scope(bool needed) {
    if (!needed) return;
    line("{");
    ++indent_;
  }
  void close_scope(bool needed) {
    if (!needed) return;
    --indent_;
    line("}");
  }

  void emit_for(const For* op, bool) {
    KILN_CHECK(op->for_kind != ForKind::GpuBlock && op->for_kind != ForKind::GpuThread,
               "GPU loop {} reached the OpenCL printer: lowering's gpu_ids pass maps GPU loops to ids", op->var);
    const std::string min_text = plain_text(op->min);
    const bool zero_min = as_const_int(op->min) && *as_const_int(op->min) == 0;
    std::string end_text = zero_min ? plain_text(op->extent) : text(op->min + op->extent);
    if (const int64_t *mn = as_const_int(op->min), *ext = as_const_int(op->extent); mn && ext) {
      end_text = plain_text(i64(*mn + *ext));
    }

    // Serial, Parallel, Unrolled and (if the vectorize pass left one) Vectorized loops run in
    // order within one work-item.
    const std::string v = bind_name(op->var);
    vars_[op->var].push_back({v});
    if (op->for_kind == ForKind::Unrolled) line("#pragma unroll");
    line(fmt::format("for (long {} = {}; {} < {}; ++{}) {{", v, min_text, v, end_text, v));
    ++indent_;
    emit_stmt(op->body, true);
    --indent_;
    line("}");
    unbind_var(op->var);
  }

  void emit_store(const Store* op) {
    const BufferInfo& b = buffer(op->buffer);
    const Type t = op->value.type();
    KILN_CHECK(t.element_of() == b.element_type, "Store of {} to buffer {} of {}", to_string(t), op->buffer,
               to_string(b.element_type));
    if (!t.is_vector()) {
      const std::string index = plain_text(op->index);
      if (b.storage == Storage::Half) {
        line(fmt::format("vstore_half({}, {}, {});", text(op->value), index, b.ident));
      } else if (b.storage == Storage::BoolByte) {
        line(fmt::format("{}[{}] = (uchar){};", b.ident, index, operand(op->value, kUnary)));
      } else {
        line(fmt::format("{}[{}] = {};", b.ident, index, text(op->value)));
      }
      return;
    }
    // The value as the registers that go to memory.
    std::string value;
    if (b.storage == Storage::BoolByte) {
      value = fmt::format("convert_uchar{}(-({}))", t.lanes, mask(op->value, 8));
    } else {
      value = text(op->value);
    }
    const std::string n = std::to_string(t.lanes);
    if (const Expr* base = dense_base(op->index)) {
      const char* fn = b.storage == Storage::Half ? "vstore_half" : "vstore";
      line(fmt::format("{}{}({}, 0, {});", fn, n, value, pointer_plus(b, *base)));
      return;
    }
    // Scatter: evaluate the value and the index once, then store lane by lane.
    const std::string value_type = b.storage == Storage::BoolByte ? "uchar" + n
                                   : b.storage == Storage::Half  ? "float" + n
                                                                 : type_name(t);
    line("{");
    ++indent_;
    line(fmt::format("const {} kiln_value = {};", value_type, value));
    line(fmt::format("const long{} kiln_index = {};", n, index_vector(op->index)));
    for (int i = 0; i < t.lanes; ++i) {
      if (b.storage == Storage::Half) {
        line(fmt::format("vstore_half(kiln_value{0}, kiln_index{0}, {1});", lane(i), b.ident));
      } else {
        line(fmt::format("{1}[kiln_index{0}] = kiln_value{0};", lane(i), b.ident));
      }
    }
    --indent_;
    line("}");
  }

  void emit_let(const LetStmt* op, bool tail) {
    const Type t = op->value.type();
    open_scope(!tail);
    std::string value, type;
    if (is_bool_vector(t)) {
      value = mask(op->value, 32);
      type = mask_type(32, t.lanes);
    } else {
      value = t.is_integer() ? plain_text(op->value) : text(op->value);
      type = type_name(t);
    }
    const std::string v = bind_name(op->name);  // after the value: it may use an outer binding
    vars_[op->name].push_back({v});
    line(fmt::format("const {} {} = {};", type, v, value));
    emit_stmt(op->body, true);
    unbind_var(op->name);
    close_scope(!tail);
  }

  void emit_if(const IfThenElse* op) {
    line(fmt::format("if ({}) {{", text(op->condition)));
    for (;;) {
      ++indent_;
      emit_stmt(op->then_case, true);
      --indent_;
      if (!op->else_case.defined()) break;
      if (const IfThenElse* next = op->else_case.as<IfThenElse>()) {
        line(fmt::format("}} else if ({}) {{", text(next->condition)));
        op = next;
        continue;
      }
      line("} else {");
      ++indent_;
      emit_stmt(op->else_case, true);
      --indent_;
      break;
    }
    line("}");
  }

  void emit_allocate(const Allocate* op, bool tail) {
    KILN_CHECK(op->scope != MemoryScope::Global,
               "global allocation {} reached the OpenCL back end; the runtime passes global "
               "temporaries as buffers", op->name);
    const int64_t* size = as_const_int(op->size);
    KILN_CHECK(size && *size > 0, "allocation {} needs a positive constant size", op->name);
    const Type t = op->element_type;
    KILN_CHECK(!t.is_vector(), "allocation {} has vector elements", op->name);
    // f16 temporaries are held as f32 (OpenCL C has no half arrays without cl_khr_fp16).
    const Storage storage = t.is_bool() ? Storage::BoolByte : Storage::Plain;
    const std::string element = storage == Storage::BoolByte ? "uchar" : type_name(t);

    if (op->scope == MemoryScope::Shared) {
      // OpenCL wants __local variables at kernel function scope; the identifier stays taken
      // for the whole function.
      const std::string ident = bind_name(op->name);
      buffers_[op->name].push_back({ident, t, "__local", storage});
      local_declarations_.push_back(fmt::format("__local {} {}[{}];", element, ident, *size));
      emit_stmt(op->body, tail);
      buffers_[op->name].pop_back();
      return;
    }
    open_scope(!tail);
    const std::string ident = bind_name(op->name);
    buffers_[op->name].push_back({ident, t, "__private", storage});
    line(fmt::format("{} {}[{}];", element, ident, *size));
    emit_stmt(op->body, true);
    unbind_buffer(op->name);
    close_scope(!tail);
  }

  std::string work_group_size_attribute() {
    if (kernel_.block.empty()) return "";
    std::vector<int64_t> sizes;
    for (int d = 0; d < 3; ++d) {
      if (d >= static_cast<int>(kernel_.block.size())) {
        sizes.push_back(1);
        continue;
      }
      const int64_t* c = as_const_int(kernel_.block[d]);
      if (!c) return "";
      sizes.push_back(*c);
    }
    return fmt::format("__attribute__((reqd_work_group_size({}, {}, {})))", sizes[0], sizes[1], sizes[2]);
  }

  const Kernel& kernel_;
  std::ostringstream body_;
  int indent_ = 0;
  bool uses_fp64_ = false;
  std::vector<std::string> helpers_;
  std::set<std::string> helper_names_;
  std::vector<std::string> local_declarations_;
  std::map<std::string, std::vector<VarBinding>> vars_;
  std::map<std::string, std::vector<BufferInfo>> buffers_;
  std::map<std::string, std::string> base_ident_;  // kiln name -> its identifier
  std::set<std::string> taken_;                    // identifiers handed out
  std::set<std::string> in_scope_;                 // identifiers visible at this point
};

}  // namespace

OpenCLCode emit_opencl(const ir::Kernel& kernel) {
  KILN_CHECK(kernel.body.defined(), "kernel {} has no body", kernel.name);
  ir::verify(kernel, "opencl back end input");
  if (!kernel::has_gpu_loops(kernel)) return OpenCLEmitter(kernel).run();
  // A kernel made by hand rather than by lower(): its GPU loops mapped to ids here.
  ir::Kernel mapped = kernel;
  mapped.grid.resize(3, ir::Expr(int64_t{1}));
  kernel::map_gpu_ids(mapped);
  return OpenCLEmitter(mapped).run();
}

}  // namespace kiln::codegen
