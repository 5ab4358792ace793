#include "kernel/ir/possible_bits.h"

#include <algorithm>
#include <optional>

namespace kiln::ir {
namespace {

uint64_t width_mask(int bits) { return bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1; }

// A shift amount known to be one constant in every lane.
std::optional<int> constant_shift(const Expr& e) {
  if (const auto* b = e.as<Broadcast>()) return constant_shift(b->value);
  if (const int64_t* c = as_const_int(e)) return static_cast<int>(*c);
  return std::nullopt;
}

}  // namespace

uint64_t possible_bits(const Expr& e) {
  const Type type = e.type();
  const uint64_t all = width_mask(type.bits);
  if (!type.is_integer()) return all;
  switch (e.kind()) {
    case ExprKind::IntImm: return static_cast<uint64_t>(e.as<IntImm>()->value) & all;
    case ExprKind::Broadcast: return possible_bits(e.as<Broadcast>()->value) & all;
    case ExprKind::Select: {
      const auto* s = e.as<Select>();
      return possible_bits(s->true_value) | possible_bits(s->false_value);
    }
    case ExprKind::Reinterpret: {
      const Expr& value = e.as<Reinterpret>()->value;
      // Lanes keep their bits only where the element width stays the same.
      if (value.type().is_integer() && value.type().bits == type.bits) return possible_bits(value) & all;
      return all;
    }
    case ExprKind::Cast: {
      const Expr& value = e.as<Cast>()->value;
      if (value.type().is_uint() && value.type().bits <= type.bits) return possible_bits(value);
      return all;
    }
    case ExprKind::Binary: {
      const auto* b = e.as<Binary>();
      switch (b->op) {
        case BinaryOp::BitAnd: return possible_bits(b->a) & possible_bits(b->b);
        case BinaryOp::BitOr:
        case BinaryOp::BitXor: return possible_bits(b->a) | possible_bits(b->b);
        case BinaryOp::Shl: {
          const std::optional<int> s = constant_shift(b->b);
          if (!s || *s < 0 || *s >= type.bits) return all;
          return (possible_bits(b->a) << *s) & all;
        }
        case BinaryOp::Shr: {
          const std::optional<int> s = constant_shift(b->b);
          if (!s || *s < 0 || *s >= type.bits) return all;
          const uint64_t bits = possible_bits(b->a);
          uint64_t shifted = bits >> *s;
          // An arithmetic shift copies the sign bit into the top.
          if (type.is_int() && (bits >> (type.bits - 1)) & 1) shifted |= all & ~(all >> *s);
          return shifted;
        }
        default: return all;
      }
    }
    default: return all;
  }
}

int max_byte(const Expr& e) {
  const uint64_t bits = possible_bits(e);
  int largest = 0;
  for (int byte = 0; byte < (e.type().bits + 7) / 8; ++byte) {
    largest = std::max(largest, static_cast<int>((bits >> (8 * byte)) & 0xff));
  }
  return largest;
}

}  // namespace kiln::ir
