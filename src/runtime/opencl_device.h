// The OpenCL device: any OpenCL 1.2+ driver (PoCL on the CPU here, GPU vendors' drivers
// elsewhere). OpenCL headers stay inside opencl_device.cpp.
#pragma once

#include <memory>

#include "runtime/device.h"

namespace kiln::runtime {

// Opens OpenCL device `index`, counting the devices of all types across all platforms in the
// order the ICD loader lists them. No platform, no device, or a bad index is a UserError that
// says what is available.
std::unique_ptr<Device> open_opencl_device(int index);

}  // namespace kiln::runtime
