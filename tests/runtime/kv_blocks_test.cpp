// The paged KV cache's bookkeeping: block tables, slots, reuse of freed blocks, a full cache.
#include "runtime/kv_blocks.h"

#include <gtest/gtest.h>

#include "support/expect_error.h"

namespace kiln::runtime {
namespace {

TEST(KvBlocks, SlotsFollowTheBlockTable) {
  KvBlocks blocks(4, 3);
  EXPECT_EQ(blocks.rows(), 12);
  const auto seq = blocks.add_sequence();
  blocks.reserve(seq, 5);
  EXPECT_EQ(blocks.block_table(seq), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(blocks.free_blocks(), 2);
  EXPECT_EQ(blocks.slots(seq, 0, 5), (std::vector<int32_t>{0, 1, 2, 3, 4}));
  blocks.reserve(seq, 6);  // still inside block 1
  EXPECT_EQ(blocks.free_blocks(), 2);
}

TEST(KvBlocks, SequencesInterleaveAndReuseFreedBlocks) {
  KvBlocks blocks(6, 2);
  const auto a = blocks.add_sequence(), b = blocks.add_sequence();
  blocks.reserve(a, 2);  // block 0
  blocks.reserve(b, 2);  // block 1
  blocks.reserve(a, 4);  // block 2
  EXPECT_EQ(blocks.slots(a, 0, 4), (std::vector<int32_t>{0, 1, 4, 5}));
  EXPECT_EQ(blocks.slots(b, 1, 2), (std::vector<int32_t>{3}));
  blocks.remove_sequence(b);  // block 1 is free again, and handed out first
  blocks.reserve(a, 6);
  EXPECT_EQ(blocks.block_table(a), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(blocks.slots(a, 3, 6), (std::vector<int32_t>{5, 2, 3}));
}

TEST(KvBlocks, TruncateFreesWholeBlocksOnly) {
  KvBlocks blocks(4, 4);
  const auto seq = blocks.add_sequence();
  blocks.reserve(seq, 16);
  blocks.truncate(seq, 5);  // positions 0..4 keep blocks 0 and 1
  EXPECT_EQ(blocks.block_table(seq), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(blocks.free_blocks(), 2);
  // Grown again, it gets the freed blocks in another order: its rows are no longer in order.
  blocks.reserve(seq, 16);
  EXPECT_EQ(blocks.block_table(seq), (std::vector<int64_t>{0, 1, 3, 2}));
  EXPECT_EQ(blocks.slots(seq, 7, 10), (std::vector<int32_t>{7, 12, 13}));
}

TEST(KvBlocks, AFullCacheIsAClearErrorThatChangesNothing) {
  KvBlocks blocks(2, 4);
  const auto a = blocks.add_sequence(), b = blocks.add_sequence();
  blocks.reserve(a, 5);
  expect_user_error([&] { blocks.reserve(b, 4); }, {"the KV cache is full", "1 blocks of 4 rows, 0 are free"});
  EXPECT_TRUE(blocks.block_table(b).empty());
  EXPECT_EQ(blocks.block_table(a).size(), 2u);
  blocks.truncate(a, 4);
  blocks.reserve(b, 4);
  EXPECT_EQ(blocks.block_table(b), (std::vector<int64_t>{1}));
}

TEST(KvBlocks, RejectsEmptyAndOversizedCaches) {
  expect_user_error([] { KvBlocks(0, 16); }, {"at least one block"});
  expect_user_error([] { KvBlocks(1 << 28, 16); }, {"more rows than an i32 slot can name"});
}

}  // namespace
}  // namespace kiln::runtime
