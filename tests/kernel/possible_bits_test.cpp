// possible_bits / max_byte: what the back ends may assume of an integer expression's bytes.
#include "kernel/ir/possible_bits.h"

#include <gtest/gtest.h>

namespace kiln::ir {
namespace {

Expr i32c(int64_t value) { return IntImm::make(Type::i32(), value); }
Expr word() { return Load::make(Type::i32(), "w", var("i")); }

TEST(PossibleBits, MasksShiftsAndSelects) {
  EXPECT_EQ(possible_bits(i32c(0x0f0f)), 0x0f0fu);
  EXPECT_EQ(possible_bits(word()), 0xffffffffu);  // a load: anything
  EXPECT_EQ(possible_bits(word() & i32c(0x0f0f0f0f)), 0x0f0f0f0fu);
  EXPECT_EQ(possible_bits((word() >> i32c(4)) & i32c(0x0f0f0f0f)), 0x0f0f0f0fu);
  EXPECT_EQ(possible_bits((word() & i32c(0x0f)) << i32c(4)), 0xf0u);
  EXPECT_EQ(possible_bits((word() & i32c(0x0f)) | (word() & i32c(0x10))), 0x1fu);
  EXPECT_EQ(possible_bits(select(var("c") > 0, i32c(1), i32c(2))), 3u);
  // An arithmetic shift of a value whose sign may be set fills the top with it.
  EXPECT_EQ(possible_bits(word() >> i32c(4)), 0xffffffffu);
  EXPECT_EQ(possible_bits((word() & i32c(0x7ffffff0)) >> i32c(4)), 0x07ffffffu);
  // A shift by an unknown amount, or past the width: anything.
  EXPECT_EQ(possible_bits((word() & i32c(0x0f)) << Var::make(Type::i32(), "s")), 0xffffffffu);
  // Zero extension keeps the narrow value's bits; a vector broadcast keeps the scalar's.
  EXPECT_EQ(possible_bits(Cast::make(Type::i32(), Load::make(Type::u8(), "b", var("i")))), 0xffu);
  EXPECT_EQ(possible_bits(Broadcast::make(i32c(0x01010101), 8) & Load::make(Type::i32().with_lanes(8), "w",
                                                                               Ramp::make(var("i"), i64(1), 8))),
            0x01010101u);
}

TEST(PossibleBits, LargestByte) {
  EXPECT_EQ(max_byte(word()), 255);
  EXPECT_EQ(max_byte(word() & i32c(0x0f0f0f0f)), 15);
  EXPECT_EQ(max_byte(word() & i32c(0x1f0f0f0f)), 31);
  EXPECT_EQ(max_byte(i32c(0x01010101)), 1);
}

}  // namespace
}  // namespace kiln::ir
