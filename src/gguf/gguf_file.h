// GGUF reader: versions 2 and 3, every metadata type, tensor infos, and the data section
// memory-mapped, never copied.
//
// The file is untrusted. Every read is bounds-checked; anything malformed is a UserError naming
// the file, the byte offset and the problem. After parsing, every tensor's bytes are known to lie
// inside the file, aligned, and not to overlap another tensor.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/dtype.h"
#include "base/mapped_file.h"
#include "gguf/gguf_value.h"

namespace kiln::gguf {

inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr uint32_t kMaxDims = 4;

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> shape;  // ggml order: shape[0] is the innermost (contiguous) dimension
  DType dtype = DType::f32;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t elements = 0;
  uint64_t bytes = 0;
};

class GGUFFile {
 public:
  // Maps and parses the file at `path`.
  static GGUFFile open(const std::string& path);
  // Parses bytes that the caller keeps alive (tests, fuzzing); `name` appears in errors.
  static GGUFFile parse(std::span<const uint8_t> bytes, std::string name);

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return bytes_.size(); }

  const std::vector<KeyValue>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  // Typed look-ups; a missing key or a value of another type is a UserError naming the key.
  std::string get_string(std::string_view key) const;
  int64_t get_int(std::string_view key) const;
  double get_float(std::string_view key) const;
  std::string get_string_or(std::string_view key, std::string fallback) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // Elements of every tensor together: the model's parameters.
  uint64_t parameter_count() const;
  const TensorInfo* find_tensor(std::string_view name) const;
  std::span<const uint8_t> tensor_data(const TensorInfo& tensor) const;

 private:
  GGUFFile() = default;

  std::shared_ptr<const MappedFile> mapping_;  // null when parsing caller-owned bytes
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> metadata_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;

  friend class Parser;
};

}  // namespace kiln::gguf
