// libFuzzer target for the GGUF reader: any input must parse or be refused with a UserError,
// never crash or read out of bounds (ASan checks that).
#include <cstddef>
#include <cstdint>

#include "base/dequantize.h"
#include "base/error.h"
#include "gguf/gguf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = kiln::gguf::GGUFFile::parse({data, size}, "fuzz-input");
    for (const auto& kv : file.metadata()) (void)kiln::gguf::format_value(kv.value);
    // Touch every tensor's bytes so out-of-bounds spans would be caught.
    for (const auto& tensor : file.tensors()) {
      const auto bytes = file.tensor_data(tensor);
      volatile uint8_t sink = 0;
      for (uint8_t b : bytes) sink = sink ^ b;
    }
  } catch (const kiln::UserError&) {
  }
  return 0;
}
