// A target description: the facts about a chip that schedule rules and lowering ask, in one
// value. A device reports the one it runs (runtime::Device::target), `kiln compile --target`
// parses one from a string (compiler::parse_target). Nothing else in kiln chooses code by a
// device's name or holds a lane count, thread count or memory size of its own.
#pragma once

#include <cstdint>
#include <string>

#include "base/dtype.h"

namespace kiln {

enum class TargetKind { Cpu, OpenCL };

// The instruction-set facts of a CPU that kiln's schedules use, as its feature flags state them.
struct CpuFeatures {
  bool avx2 = false;
  bool avx512f = false;
  bool avx512_vnni = false;  // vpdpbusd on 512-bit registers
  bool avx_vnni = false;     // vpdpbusd on 256-bit registers (VEX)
  bool avx512_bf16 = false;  // vdpbf16ps
  bool neon = false;         // AArch64 Advanced SIMD
};

struct Target {
  TargetKind kind = TargetKind::Cpu;
  std::string cpu;          // CPU: the LLVM name of the CPU code is for ("znver4"); "" is the host
  int vector_bits = 128;    // CPU: the widest vector register the schedules fill
  int vector_registers = 16;  // CPU: how many of them there are (accumulators must fit)
  bool int8_dot = false;    // integer dot products of 8-bit values (VNNI, dp4a)
  bool bf16_dot = false;    // bf16 dot products (AVX-512 BF16)
  int threads = 0;          // CPU: threads that run parallel loops; 0 where not known (compile only)
  int workgroup_threads = 1;        // GPU: threads of one work-group the schedules use (a power of two)
  int max_workgroup_size = 1;       // GPU: the most threads one work-group may have
  int subgroup_width = 1;           // GPU: threads that run in lock step (warp, wavefront); 1 unknown
  int64_t shared_memory_bytes = 0;  // GPU: memory one work-group shares (OpenCL local memory)
  // Preferred tile shapes of the CPU contraction rule.
  int row_tile = 4;           // rows of x computed together, each decoded weight block shared by them
  int weight_row_chunk = 16;  // weight rows a parallel loop hands out together

  bool is_gpu() const { return kind != TargetKind::Cpu; }
  // Whether the 8-bit activation path pays: a CPU with VNNI, or AVX2's byte multiply-adds
  // (pmaddubsw, pmaddwd) on 256-bit registers. (GPU back ends print no dot products yet.)
  bool int8_dot_products() const { return kind == TargetKind::Cpu && (int8_dot || vector_bits >= 256); }
  // Elements of `dtype` in one vector register; 1 on a GPU (its threads are its lanes).
  int vector_lanes(DType dtype) const;
  // The string parse_target reads back: "cpu", "cpu:znver4", "opencl".
  std::string name() const;
  // Every field, one per line (`kiln compile --dump target`).
  std::string to_string() const;
};

// A CPU target from its features. `cpu` names it ("" for the host).
Target cpu_target(const CpuFeatures& features, const std::string& cpu = "");
// The CPU kiln runs on, as it reports itself (cpuid).
CpuFeatures host_cpu_features();
Target host_cpu_target();
// An OpenCL device of which nothing is known but what OpenCL 1.2 promises every device
// (32 KiB of local memory), with the work-group size kiln's GPU rules use by default.
Target generic_opencl_target();

}  // namespace kiln
