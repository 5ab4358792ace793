#include "base/target.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/error.h"

namespace kiln {

int Target::vector_lanes(DType dtype) const {
  if (is_gpu()) return 1;
  const DTypeInfo& info = dtype_info(dtype);
  KILN_CHECK(info.block_size == 1, "vector lanes of block format {}", info.name);
  const int bits = static_cast<int>(info.block_bytes) * 8;
  return std::max(1, vector_bits / bits);
}

std::string Target::name() const {
  switch (kind) {
    case TargetKind::Cpu: return cpu.empty() ? "cpu" : "cpu:" + cpu;
    case TargetKind::OpenCL: return "opencl";
  }
  KILN_UNREACHABLE("unknown target kind");
}

std::string Target::to_string() const {
  std::string out = fmt::format("target {}\n", name());
  if (!is_gpu()) {
    out += fmt::format("  vector_bits {} (f32 lanes {})\n", vector_bits, vector_lanes(DType::f32));
    out += fmt::format("  vector_registers {}\n", vector_registers);
    out += fmt::format("  int8_dot {}\n  bf16_dot {}\n", int8_dot, bf16_dot);
    out += threads > 0 ? fmt::format("  threads {}\n", threads) : "  threads (set when run)\n";
    out += fmt::format("  row_tile {}\n  weight_row_chunk {}\n", row_tile, weight_row_chunk);
  } else {
    out += fmt::format("  workgroup_threads {}\n  max_workgroup_size {}\n", workgroup_threads, max_workgroup_size);
    out += fmt::format("  subgroup_width {}\n  shared_memory_bytes {}\n", subgroup_width, shared_memory_bytes);
    out += fmt::format("  int8_dot {}\n  bf16_dot {}\n", int8_dot, bf16_dot);
  }
  return out;
}

Target cpu_target(const CpuFeatures& features, const std::string& cpu) {
  Target t;
  t.kind = TargetKind::Cpu;
  t.cpu = cpu;
  t.vector_bits = features.avx512f ? 512 : features.avx2 ? 256 : 128;
  // AVX-512 has zmm0-31 (and xmm16-31 for the narrower ones), AArch64 v0-31; AVX2 16.
  t.vector_registers = features.avx512f || features.neon ? 32 : 16;
  // 512-bit VNNI needs AVX-512 registers; VEX VNNI works on 256-bit ones.
  t.int8_dot = (features.avx512f && features.avx512_vnni) || features.avx_vnni;
  t.bf16_dot = features.avx512f && features.avx512_bf16;
  return t;
}

CpuFeatures host_cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512_vnni = __builtin_cpu_supports("avx512vnni");
  f.avx_vnni = __builtin_cpu_supports("avxvnni");
  f.avx512_bf16 = __builtin_cpu_supports("avx512bf16");
#elif defined(__aarch64__)
  f.neon = true;
#endif
  return f;
}

Target host_cpu_target() { return cpu_target(host_cpu_features()); }

Target generic_opencl_target() {
  Target t;
  t.kind = TargetKind::OpenCL;
  t.vector_bits = 32;
  t.workgroup_threads = 64;
  t.max_workgroup_size = 64;
  t.subgroup_width = 1;
  t.shared_memory_bytes = 32 * 1024;  // CL_DEVICE_LOCAL_MEM_SIZE is at least this on every device
  return t;
}

}  // namespace kiln
