#include "runtime/kv_blocks.h"

#include <limits>

#include "base/error.h"

namespace kiln::runtime {

KvBlocks::KvBlocks(int64_t n_blocks, int64_t block_size) : n_blocks_(n_blocks), block_size_(block_size) {
  if (n_blocks < 1 || block_size < 1) user_error("a KV cache needs at least one block of at least one row");
  // Slots are i32 in the graph.
  if (n_blocks > std::numeric_limits<int32_t>::max() / block_size) {
    user_error("a KV cache of {} blocks of {} rows has more rows than an i32 slot can name", n_blocks, block_size);
  }
  // Pushed in reverse, so a fresh cache hands out blocks 0, 1, 2, ...
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

KvBlocks::SequenceId KvBlocks::add_sequence() {
  tables_[next_id_];
  return next_id_++;
}

std::vector<int64_t>& KvBlocks::table_of(SequenceId id) {
  auto it = tables_.find(id);
  KILN_CHECK(it != tables_.end(), "KV sequence {} does not exist", id);
  return it->second;
}

const std::vector<int64_t>& KvBlocks::block_table(SequenceId id) const {
  auto it = tables_.find(id);
  KILN_CHECK(it != tables_.end(), "KV sequence {} does not exist", id);
  return it->second;
}

void KvBlocks::remove_sequence(SequenceId id) {
  truncate(id, 0);
  tables_.erase(id);
}

void KvBlocks::reserve(SequenceId id, int64_t length) {
  std::vector<int64_t>& table = table_of(id);
  KILN_CHECK(length >= 0, "reserve of {} positions", length);
  const int64_t needed = (length + block_size_ - 1) / block_size_ - static_cast<int64_t>(table.size());
  if (needed <= 0) return;
  if (needed > free_blocks()) {
    user_error("the KV cache is full: {} more positions need {} blocks of {} rows, {} are free", length -
               static_cast<int64_t>(table.size()) * block_size_, needed, block_size_, free_blocks());
  }
  for (int64_t i = 0; i < needed; ++i) {
    table.push_back(free_.back());
    free_.pop_back();
  }
}

void KvBlocks::truncate(SequenceId id, int64_t length) {
  std::vector<int64_t>& table = table_of(id);
  KILN_CHECK(length >= 0, "truncate to {} positions", length);
  const size_t keep = static_cast<size_t>((length + block_size_ - 1) / block_size_);
  // Freed front to back, so the stack hands the sequence's last block out first: a sequence
  // that is truncated and grows again gets its blocks back in another order.
  for (size_t i = keep; i < table.size(); ++i) free_.push_back(table[i]);
  if (keep < table.size()) table.resize(keep);
}

std::vector<int32_t> KvBlocks::slots(SequenceId id, int64_t begin, int64_t end) const {
  const std::vector<int64_t>& table = block_table(id);
  KILN_CHECK(0 <= begin && begin <= end && end <= static_cast<int64_t>(table.size()) * block_size_,
             "slots of positions [{}, {}) of a sequence with {} blocks", begin, end, table.size());
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(end - begin));
  for (int64_t p = begin; p < end; ++p) {
    out.push_back(static_cast<int32_t>(table[static_cast<size_t>(p / block_size_)] * block_size_ + p % block_size_));
  }
  return out;
}

}  // namespace kiln::runtime
