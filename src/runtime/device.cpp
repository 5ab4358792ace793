#include "runtime/device.h"

#include <charconv>

#include "base/error.h"
#include "runtime/cpu_device.h"

#if __has_include("runtime/opencl_device.h")
#include "runtime/opencl_device.h"
#define KILN_HAVE_OPENCL 1
#endif

namespace kiln::runtime {

std::unique_ptr<Device> open_device(std::string_view name, int cpu_threads) {
  if (name == "cpu") return std::make_unique<CpuDevice>(cpu_threads);
  if (name == "opencl" || name.starts_with("opencl:")) {
#ifdef KILN_HAVE_OPENCL
    int index = 0;
    if (name.size() > 6) {
      const std::string_view digits = name.substr(7);
      const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || index < 0) {
        user_error("device '{}': the OpenCL device number must be a non-negative integer, e.g. opencl:0", name);
      }
    }
    return open_opencl_device(index);
#else
    user_error("device '{}': this build of kiln has no OpenCL support", name);
#endif
  }
  user_error("unknown device '{}'; the devices are: cpu, opencl[:N]", name);
}

}  // namespace kiln::runtime
