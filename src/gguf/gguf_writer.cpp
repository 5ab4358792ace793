#include "gguf/gguf_writer.h"

#include <cstdio>
#include <cstring>
#include <fstream>

#include "base/error.h"

namespace kiln::gguf {
namespace {

class ByteSink {
 public:
  template <typename T>
  void scalar(T value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    out.insert(out.end(), p, p + sizeof(T));
  }
  void string(const std::string& s) {
    scalar<uint64_t>(s.size());
    out.insert(out.end(), s.begin(), s.end());
  }
  void pad_to(uint64_t alignment) {
    while (out.size() % alignment != 0) out.push_back(0);
  }
  void value(const Value& v) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string>) {
            string(x);
          } else if constexpr (std::is_same_v<T, Array>) {
            scalar<uint32_t>(static_cast<uint32_t>(x.element_type));
            scalar<uint64_t>(x.items.size());
            for (const Value& item : x.items) {
              KILN_CHECK(item.type() == x.element_type, "array item of type {} in an array of {}",
                         value_type_name(item.type()), value_type_name(x.element_type));
              value(item);
            }
          } else if constexpr (std::is_same_v<T, bool>) {
            scalar<uint8_t>(x ? 1 : 0);
          } else {
            scalar<T>(x);
          }
        },
        v.storage);
  }

  std::vector<uint8_t> out;
};

}  // namespace

void GGUFWriter::set(std::string key, Value value) {
  for (KeyValue& kv : metadata_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  metadata_.push_back({std::move(key), std::move(value)});
}

// Refuses what the reader would refuse (gguf_file.cpp), so the writer never makes a file that
// kiln cannot open.
void GGUFWriter::add_tensor(std::string name, DType dtype, std::vector<uint64_t> shape,
                            std::span<const uint8_t> data) {
  for (const PendingTensor& t : tensors_) {
    KILN_CHECK(t.name != name, "duplicate tensor name '{}'", name);
  }
  KILN_CHECK(!shape.empty() && shape.size() <= 4, "tensor '{}' has {} dimensions; 1 to 4 are allowed",
             name, shape.size());
  uint64_t elements = 1;
  for (uint64_t d : shape) {
    KILN_CHECK(!__builtin_mul_overflow(elements, d, &elements),
               "tensor '{}': the product of its dimensions overflows 64 bits", name);
  }
  const uint32_t block_size = dtype_info(dtype).block_size;
  KILN_CHECK(shape[0] % block_size == 0,
             "tensor '{}': its first dimension {} is not a multiple of the {} block size {}", name,
             shape[0], dtype_name(dtype), block_size);
  const std::optional<uint64_t> bytes = dtype_row_bytes(dtype, elements);
  KILN_CHECK(bytes && *bytes == data.size(), "tensor '{}' has {} bytes of data, its shape needs {}",
             name, data.size(), bytes.value_or(0));
  tensors_.push_back({std::move(name), dtype, std::move(shape), {data.begin(), data.end()}});
}

uint32_t GGUFWriter::alignment() const {
  for (const KeyValue& kv : metadata_) {
    if (kv.key == "general.alignment") {
      const std::optional<int64_t> a = kv.value.as_int();
      KILN_CHECK(kv.value.type() == ValueType::u32 && a && *a > 0 && (*a & (*a - 1)) == 0,
                 "general.alignment must be a power of two stored as u32, as readers require");
      return static_cast<uint32_t>(*a);
    }
  }
  return 32;
}

std::vector<uint8_t> GGUFWriter::to_bytes() const {
  const uint64_t align = alignment();
  ByteSink sink;
  sink.scalar<uint32_t>(0x46554747);  // "GGUF"
  sink.scalar<uint32_t>(3);
  sink.scalar<uint64_t>(tensors_.size());
  sink.scalar<uint64_t>(metadata_.size());
  for (const KeyValue& kv : metadata_) {
    sink.string(kv.key);
    sink.scalar<uint32_t>(static_cast<uint32_t>(kv.value.type()));
    sink.value(kv.value);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    sink.string(t.name);
    sink.scalar<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (uint64_t d : t.shape) sink.scalar<uint64_t>(d);
    sink.scalar<uint32_t>(static_cast<uint32_t>(t.dtype));
    sink.scalar<uint64_t>(offset);
    offset += (t.data.size() + align - 1) / align * align;
  }
  sink.pad_to(align);
  for (const PendingTensor& t : tensors_) {
    sink.out.insert(sink.out.end(), t.data.begin(), t.data.end());
    sink.pad_to(align);
  }
  return std::move(sink.out);
}

void GGUFWriter::write(const std::string& path) const {
  const std::vector<uint8_t> bytes = to_bytes();
  const std::string temporary = path + ".partial";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) user_error("cannot create '{}': {}", temporary, std::strerror(errno));
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {
      std::remove(temporary.c_str());
      user_error("cannot write '{}': {}", temporary, std::strerror(errno));
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    user_error("cannot rename '{}' to '{}': {}", temporary, path, std::strerror(errno));
  }
}

}  // namespace kiln::gguf
