#include "gguf/gguf_file.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"

namespace kiln::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr int kMaxArrayNesting = 8;
// Counts are trusted for reserve() only this far: a hostile count that fits the file's bytes
// still should not cost memory out of proportion before its items are read.
constexpr uint64_t kMaxReserve = 1 << 16;

// The fewest bytes one value of a type can take in the file; used to refuse counts that
// cannot fit in what is left before allocating anything for them.
uint64_t min_encoded_size(ValueType type) {
  switch (type) {
    case ValueType::u8: case ValueType::i8: case ValueType::boolean: return 1;
    case ValueType::u16: case ValueType::i16: return 2;
    case ValueType::u32: case ValueType::i32: case ValueType::f32: return 4;
    case ValueType::u64: case ValueType::i64: case ValueType::f64: case ValueType::string: return 8;
    case ValueType::array: return 12;
  }
  return 1;
}

}  // namespace

// Reads the header, metadata and tensor infos, checking each step against the file's bytes.
class Parser {
 public:
  explicit Parser(GGUFFile& file) : file_(file), bytes_(file.bytes_) {}

  void run() {
    const uint32_t magic = read_scalar<uint32_t>("magic");
    if (magic != kMagic) {
      fail_at(0, "not a GGUF file: the first 4 bytes are not \"GGUF\"");
    }
    const uint64_t version_offset = pos_;
    file_.version_ = read_scalar<uint32_t>("version");
    if (file_.version_ != 2 && file_.version_ != 3) {
      fail_at(version_offset, fmt::format("GGUF version {} is not supported (kiln reads 2 and 3)",
                                          file_.version_));
    }
    const uint64_t tensor_count = read_scalar<uint64_t>("tensor count");
    const uint64_t kv_count = read_scalar<uint64_t>("metadata count");
    // Each key-value pair takes at least 12 bytes, each tensor info at least 24.
    check_count_fits(kv_count, pos_ - 8, 12, "metadata count");
    check_count_fits(tensor_count, pos_ - 16, 24, "tensor count");

    read_metadata(kv_count);
    read_alignment();
    read_tensor_infos(tensor_count);
    place_data_section();
  }

 private:
  [[noreturn]] void fail_at(uint64_t offset, const std::string& problem) const {
    user_error("'{}': at offset {}: {}", file_.name_, offset, problem);
  }

  uint64_t remaining() const { return bytes_.size() - pos_; }

  void need(uint64_t count, std::string_view what) {
    if (count > remaining()) {
      fail_at(pos_, fmt::format("file is truncated: reading {} needs {} bytes, {} remain", what,
                                count, remaining()));
    }
  }

  void check_count_fits(uint64_t count, uint64_t count_offset, uint64_t min_bytes_each, std::string_view what) {
    if (count > remaining() / min_bytes_each) {
      fail_at(count_offset, fmt::format("{} {} cannot fit in the {} bytes that remain", what, count,
                                remaining()));
    }
  }

  template <typename T>
  T read_scalar(std::string_view what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  std::string read_string(std::string_view what) {
    const uint64_t length_offset = pos_;
    const uint64_t length = read_scalar<uint64_t>(what);
    if (length > remaining()) {
      fail_at(length_offset, fmt::format("{} has length {}, past the end of the file ({} bytes remain)",
                                         what, length, remaining()));
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return s;
  }

  ValueType read_value_type(std::string_view what) {
    const uint64_t offset = pos_;
    const uint32_t id = read_scalar<uint32_t>(what);
    if (!is_known_value_type(id)) fail_at(offset, fmt::format("unknown metadata value type {}", id));
    return static_cast<ValueType>(id);
  }

  Value read_value(ValueType type, int depth) {
    switch (type) {
      case ValueType::u8: return {read_scalar<uint8_t>("u8 value")};
      case ValueType::i8: return {read_scalar<int8_t>("i8 value")};
      case ValueType::u16: return {read_scalar<uint16_t>("u16 value")};
      case ValueType::i16: return {read_scalar<int16_t>("i16 value")};
      case ValueType::u32: return {read_scalar<uint32_t>("u32 value")};
      case ValueType::i32: return {read_scalar<int32_t>("i32 value")};
      case ValueType::f32: return {read_scalar<float>("f32 value")};
      case ValueType::u64: return {read_scalar<uint64_t>("u64 value")};
      case ValueType::i64: return {read_scalar<int64_t>("i64 value")};
      case ValueType::f64: return {read_scalar<double>("f64 value")};
      case ValueType::boolean: {
        const uint64_t offset = pos_;
        const uint8_t b = read_scalar<uint8_t>("bool value");
        if (b > 1) fail_at(offset, fmt::format("bool value is {}, not 0 or 1", b));
        return {b == 1};
      }
      case ValueType::string: return {read_string("string value")};
      case ValueType::array: return {read_array(depth + 1)};
    }
    KILN_UNREACHABLE("value type {} not handled", static_cast<uint32_t>(type));
  }

  Array read_array(int depth) {
    if (depth > kMaxArrayNesting) {
      fail_at(pos_, fmt::format("arrays nest deeper than {} levels", kMaxArrayNesting));
    }
    Array array;
    array.element_type = read_value_type("array element type");
    const uint64_t count_offset = pos_;
    const uint64_t count = read_scalar<uint64_t>("array count");
    check_count_fits(count, count_offset, min_encoded_size(array.element_type), "array count");
    array.items.reserve(std::min<uint64_t>(count, kMaxReserve));
    for (uint64_t i = 0; i < count; ++i) array.items.push_back(read_value(array.element_type, depth));
    return array;
  }

  void read_metadata(uint64_t kv_count) {
    file_.metadata_.reserve(std::min<uint64_t>(kv_count, kMaxReserve));
    for (uint64_t i = 0; i < kv_count; ++i) {
      const uint64_t key_offset = pos_;
      std::string key = read_string("metadata key");
      const ValueType type = read_value_type("metadata value type");
      const uint64_t value_offset = pos_;
      Value value = read_value(type, 0);
      if (key == "general.alignment") alignment_offset_ = value_offset;
      if (file_.metadata_index_.count(key) != 0) {
        fail_at(key_offset, fmt::format("duplicate metadata key '{}'", key));
      }
      file_.metadata_index_.emplace(key, file_.metadata_.size());
      file_.metadata_.push_back({std::move(key), std::move(value)});
    }
  }

  void read_alignment() {
    const Value* value = file_.find("general.alignment");
    if (value == nullptr) return;
    const std::optional<int64_t> alignment = value->as_int();
    if (value->type() != ValueType::u32 || !alignment || *alignment == 0 ||
        (*alignment & (*alignment - 1)) != 0) {
      fail_at(alignment_offset_, fmt::format("general.alignment must be a power of two stored as u32, got {} ({})",
                             format_value(*value), value_type_name(value->type())));
    }
    file_.alignment_ = static_cast<uint32_t>(*alignment);
  }

  void read_tensor_infos(uint64_t tensor_count) {
    file_.tensors_.reserve(std::min<uint64_t>(tensor_count, kMaxReserve));
    for (uint64_t i = 0; i < tensor_count; ++i) {
      const uint64_t info_offset = pos_;
      TensorInfo tensor;
      tensor.name = read_string("tensor name");
      const uint64_t dims_offset = pos_;
      const uint32_t n_dims = read_scalar<uint32_t>("tensor dimension count");
      if (n_dims == 0 || n_dims > kMaxDims) {
        fail_at(dims_offset, fmt::format("tensor '{}' has {} dimensions; 1 to {} are allowed",
                                         tensor.name, n_dims, kMaxDims));
      }
      tensor.elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t dim = read_scalar<uint64_t>("tensor dimension");
        if (dim > static_cast<uint64_t>(INT64_MAX) ||
            __builtin_mul_overflow(tensor.elements, dim, &tensor.elements)) {
          fail_at(dims_offset, fmt::format("tensor '{}': the product of its dimensions overflows "
                                           "64 bits", tensor.name));
        }
        tensor.shape.push_back(dim);
      }
      const uint64_t type_offset = pos_;
      const uint32_t type_id = read_scalar<uint32_t>("tensor type");
      const std::optional<DType> dtype = dtype_from_id(type_id);
      if (!dtype) {
        fail_at(type_offset, fmt::format("tensor '{}' has unknown tensor type {}", tensor.name,
                                         type_id));
      }
      tensor.dtype = *dtype;
      const uint32_t block = dtype_info(tensor.dtype).block_size;
      if (tensor.shape[0] % block != 0) {
        fail_at(type_offset, fmt::format("tensor '{}': its first dimension {} is not a multiple "
                                         "of the {} block size {}", tensor.name, tensor.shape[0],
                                         dtype_name(tensor.dtype), block));
      }
      const std::optional<uint64_t> bytes = dtype_row_bytes(tensor.dtype, tensor.elements);
      if (!bytes) {
        fail_at(type_offset, fmt::format("tensor '{}': its size in bytes overflows 64 bits",
                                         tensor.name));
      }
      tensor.bytes = *bytes;
      const uint64_t offset_offset = pos_;
      tensor.offset = read_scalar<uint64_t>("tensor data offset");
      if (tensor.offset % file_.alignment_ != 0) {
        fail_at(offset_offset, fmt::format("tensor '{}': data offset {} is not a multiple of the "
                                           "alignment {}", tensor.name, tensor.offset,
                                           file_.alignment_));
      }
      if (file_.tensor_index_.count(tensor.name) != 0) {
        fail_at(info_offset, fmt::format("duplicate tensor name '{}'", tensor.name));
      }
      file_.tensor_index_.emplace(tensor.name, file_.tensors_.size());
      file_.tensors_.push_back(std::move(tensor));
    }
  }

  // The data section starts at the next multiple of the alignment; every tensor must lie
  // within it and no two may overlap.
  void place_data_section() {
    const uint64_t alignment = file_.alignment_;
    const uint64_t data_offset = (pos_ + alignment - 1) / alignment * alignment;
    if (file_.tensors_.empty()) {
      file_.data_offset_ = std::min<uint64_t>(data_offset, bytes_.size());
      return;
    }
    if (data_offset > bytes_.size()) {
      fail_at(pos_, "file is truncated: the data section starts past the end of the file");
    }
    file_.data_offset_ = data_offset;
    const uint64_t data_size = bytes_.size() - data_offset;

    std::vector<const TensorInfo*> by_offset;
    for (const TensorInfo& t : file_.tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorInfo* a, const TensorInfo* b) {
                // At a shared offset, empty tensors first: they overlap nothing.
                return a->offset != b->offset ? a->offset < b->offset : a->bytes < b->bytes;
              });
    for (size_t i = 0; i < by_offset.size(); ++i) {
      const TensorInfo& t = *by_offset[i];
      if (t.offset > data_size || t.bytes > data_size - t.offset) {
        fail_at(data_offset + t.offset,
                fmt::format("tensor '{}' ({} bytes at data offset {}) runs past the end of the "
                            "file; the file may be truncated", t.name, t.bytes, t.offset));
      }
      if (i + 1 < by_offset.size() && t.offset + t.bytes > by_offset[i + 1]->offset) {
        fail_at(data_offset + by_offset[i + 1]->offset,
                fmt::format("tensor '{}' overlaps tensor '{}'", by_offset[i + 1]->name, t.name));
      }
    }
  }

  GGUFFile& file_;
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
  uint64_t alignment_offset_ = 0;
};

GGUFFile GGUFFile::open(const std::string& path) {
  auto mapping = std::make_shared<const MappedFile>(path);
  GGUFFile file = parse(mapping->bytes(), path);
  file.mapping_ = std::move(mapping);
  return file;
}

GGUFFile GGUFFile::parse(std::span<const uint8_t> bytes, std::string name) {
  GGUFFile file;
  file.bytes_ = bytes;
  file.name_ = std::move(name);
  Parser(file).run();
  return file;
}

const Value* GGUFFile::find(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

std::string GGUFFile::get_string(std::string_view key) const {
  const Value* value = find(key);
  if (value == nullptr) user_error("'{}': metadata key '{}' is missing", name_, key);
  const std::string* s = value->as_string();
  if (s == nullptr) {
    user_error("'{}': metadata key '{}' should be a string but is {}", name_, key,
               value_type_name(value->type()));
  }
  return *s;
}

std::string GGUFFile::get_string_or(std::string_view key, std::string fallback) const {
  const Value* value = find(key);
  if (value == nullptr) return fallback;
  return get_string(key);
}

int64_t GGUFFile::get_int(std::string_view key) const {
  const Value* value = find(key);
  if (value == nullptr) user_error("'{}': metadata key '{}' is missing", name_, key);
  const std::optional<int64_t> i = value->as_int();
  if (!i) {
    if (value->is_integer()) user_error("'{}': metadata key '{}' = {} does not fit in 64-bit signed", name_, key, format_value(*value));
    user_error("'{}': metadata key '{}' should be an integer but is {}", name_, key,
               value_type_name(value->type()));
  }
  return *i;
}

double GGUFFile::get_float(std::string_view key) const {
  const Value* value = find(key);
  if (value == nullptr) user_error("'{}': metadata key '{}' is missing", name_, key);
  const std::optional<double> d = value->as_double();
  if (!d) {
    user_error("'{}': metadata key '{}' should be a number but is {}", name_, key,
               value_type_name(value->type()));
  }
  return *d;
}

const TensorInfo* GGUFFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> GGUFFile::tensor_data(const TensorInfo& tensor) const {
  return bytes_.subspan(data_offset_ + tensor.offset, tensor.bytes);
}

uint64_t GGUFFile::parameter_count() const {
  uint64_t total = 0;
  for (const TensorInfo& t : tensors_) total += t.elements;
  return total;
}

}  // namespace kiln::gguf
