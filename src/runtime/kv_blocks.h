// The bookkeeping of a paged KV cache (DESIGN.md section 7). The cache's rows are cut into
// blocks of `block_size` consecutive rows; a sequence gets blocks as it grows, and its block
// table lists them in order: position p of the sequence lives in row
//   table[p / block_size] * block_size + p % block_size.
// Kernels see only those rows ("slots"), so a sequence's blocks need not be adjacent and a
// block a sequence frees can go to any other. This class owns no device memory: the caller
// binds the cache buffers and passes the slots to the graph.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace kiln::runtime {

class KvBlocks {
 public:
  using SequenceId = int64_t;

  // A cache of n_blocks * block_size rows; both must be at least 1.
  KvBlocks(int64_t n_blocks, int64_t block_size);

  int64_t block_size() const { return block_size_; }
  int64_t rows() const { return n_blocks_ * block_size_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }

  // A new, empty sequence.
  SequenceId add_sequence();
  // Frees the sequence's blocks and forgets it.
  void remove_sequence(SequenceId id);
  // Gives the sequence blocks for positions [0, length). When too few blocks are free this is
  // a UserError and nothing changes.
  void reserve(SequenceId id, int64_t length);
  // Frees the blocks the sequence no longer needs for positions [0, length).
  void truncate(SequenceId id, int64_t length);
  // The rows of positions [begin, end) of the sequence, which must be reserved.
  std::vector<int32_t> slots(SequenceId id, int64_t begin, int64_t end) const;
  // The sequence's blocks, in position order.
  const std::vector<int64_t>& block_table(SequenceId id) const;

 private:
  std::vector<int64_t>& table_of(SequenceId id);

  int64_t n_blocks_, block_size_;
  std::vector<int64_t> free_;  // a stack: the block freed last is handed out first
  std::map<SequenceId, std::vector<int64_t>> tables_;
  SequenceId next_id_ = 0;
};

}  // namespace kiln::runtime
