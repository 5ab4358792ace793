// The OpenCL device: any OpenCL 1.2+ driver (PoCL on the CPU here, GPU vendors' drivers
// elsewhere). OpenCL headers stay inside opencl_device.cpp.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/device.h"

namespace kiln::runtime {

// Opens OpenCL device `index`, counting the devices of all types across all platforms in the
// order the ICD loader lists them. No platform, no device, or a bad index is a UserError that
// says what is available.
std::unique_ptr<Device> open_opencl_device(int index);

// How OpenCL devices in this process got their programs, counted over every device. A device
// builds each distinct source once; the binary it gets is kept in the kernel cache
// (codegen/kernel_cache.h), keyed by the source, the build options, the platform, device and
// driver versions, so a later device or process loads it instead of compiling.
struct OpenCLProgramStats {
  int64_t source_builds = 0;   // programs the driver compiled from OpenCL C
  int64_t binary_loads = 0;    // programs created from a binary in the disk cache
  int64_t binary_rejects = 0;  // cache entries damaged, or binaries the driver refused: built from source
};
OpenCLProgramStats opencl_program_stats();

}  // namespace kiln::runtime
