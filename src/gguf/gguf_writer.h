// GGUF writer (version 3): tests build small files with it, and `kiln quantize` will use it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "gguf/gguf_value.h"

namespace kiln::gguf {

class GGUFWriter {
 public:
  // Sets a metadata key; setting "general.alignment" (as u32) changes the data alignment.
  void set(std::string key, Value value);
  // Adds a tensor; `shape` is in ggml order and `data` must hold exactly its bytes.
  void add_tensor(std::string name, DType dtype, std::vector<uint64_t> shape,
                  std::span<const uint8_t> data);

  std::vector<uint8_t> to_bytes() const;
  // Writes to a temporary file beside `path` and renames it, so a failure never leaves half a file.
  void write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    DType dtype;
    std::vector<uint64_t> shape;
    std::vector<uint8_t> data;
  };
  uint32_t alignment() const;

  std::vector<KeyValue> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace kiln::gguf
