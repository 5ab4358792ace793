// The only file of kiln that includes OpenCL headers.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "runtime/opencl_device.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "base/error.h"
#include "codegen/kernel_cache.h"

namespace kiln::runtime {
namespace {

// Every program is built with these options; they are part of a cached binary's identity.
constexpr const char* kBuildOptions = "-cl-std=CL1.2";

std::atomic<int64_t> source_builds{0};
std::atomic<int64_t> binary_loads{0};
std::atomic<int64_t> binary_rejects{0};

const char* cl_error_name(cl_int code) {
  switch (code) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_DEVICE_TYPE: return "CL_INVALID_DEVICE_TYPE";
    case CL_INVALID_PLATFORM: return "CL_INVALID_PLATFORM";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_CONTEXT: return "CL_INVALID_CONTEXT";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_PROGRAM: return "CL_INVALID_PROGRAM";
    case CL_INVALID_PROGRAM_EXECUTABLE: return "CL_INVALID_PROGRAM_EXECUTABLE";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL_DEFINITION: return "CL_INVALID_KERNEL_DEFINITION";
    case CL_INVALID_KERNEL: return "CL_INVALID_KERNEL";
    case CL_INVALID_ARG_INDEX: return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_DIMENSION: return "CL_INVALID_WORK_DIMENSION";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE: return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_OFFSET: return "CL_INVALID_GLOBAL_OFFSET";
    case CL_INVALID_OPERATION: return "CL_INVALID_OPERATION";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
  }
}

// Every OpenCL failure is reported as a UserError: a driver refusing work is a property of the
// user's machine (driver, memory, device limits), not an invariant of kiln.
void check(cl_int code, const char* call) {
  if (code != CL_SUCCESS) user_error("OpenCL call {} failed: {} ({})", call, cl_error_name(code), code);
}

std::string device_string(cl_device_id device, cl_device_info what) {
  size_t size = 0;
  if (clGetDeviceInfo(device, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "?";
  std::string s(size, '\0');
  if (clGetDeviceInfo(device, what, size, s.data(), nullptr) != CL_SUCCESS) return "?";
  s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
  return s;
}

std::string platform_string(cl_platform_id platform, cl_platform_info what) {
  size_t size = 0;
  if (clGetPlatformInfo(platform, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "?";
  std::string s(size, '\0');
  if (clGetPlatformInfo(platform, what, size, s.data(), nullptr) != CL_SUCCESS) return "?";
  s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
  return s;
}

struct FoundDevice {
  cl_platform_id platform;
  cl_device_id device;
  std::string description;  // "pthread-haswell-AMD EPYC (Portable Computing Language, CPU)"
};

// What a program binary depends on besides its source and options: a binary from another
// device, driver or driver version must not be offered to this one.
std::string device_identity(const FoundDevice& found) {
  return fmt::format("platform {} {}\ndevice {} {}\ndriver {}\n", platform_string(found.platform, CL_PLATFORM_NAME),
                     platform_string(found.platform, CL_PLATFORM_VERSION), device_string(found.device, CL_DEVICE_NAME),
                     device_string(found.device, CL_DEVICE_VERSION), device_string(found.device, CL_DRIVER_VERSION));
}

std::string build_log(cl_program program, cl_device_id device) {
  size_t size = 0;
  if (clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &size) != CL_SUCCESS || size <= 1) {
    return "(no build log)";
  }
  std::string log(size, '\0');
  clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, size, log.data(), nullptr);
  log.resize(log.find('\0') == std::string::npos ? log.size() : log.find('\0'));
  return log;
}

// The built program's binary for its one device; empty if the driver gives none.
std::string program_binary(cl_program program) {
  size_t size = 0;
  if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, nullptr) != CL_SUCCESS || size == 0) {
    return {};
  }
  std::string binary(size, '\0');
  unsigned char* destination = reinterpret_cast<unsigned char*>(binary.data());
  if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof destination, &destination, nullptr) != CL_SUCCESS) {
    return {};
  }
  return binary;
}

// Every device of every platform, in the ICD loader's order. Platforms that fail to answer are
// skipped: one broken ICD must not hide the others.
std::vector<FoundDevice> list_devices() {
  cl_uint n_platforms = 0;
  // With no ICD installed, the ICD loader answers CL_PLATFORM_NOT_FOUND_KHR here.
  if (clGetPlatformIDs(0, nullptr, &n_platforms) != CL_SUCCESS || n_platforms == 0) return {};
  std::vector<cl_platform_id> platforms(n_platforms);
  if (clGetPlatformIDs(n_platforms, platforms.data(), nullptr) != CL_SUCCESS) return {};
  std::vector<FoundDevice> found;
  for (cl_platform_id p : platforms) {
    cl_uint n_devices = 0;
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &n_devices) != CL_SUCCESS || n_devices == 0) continue;
    std::vector<cl_device_id> devices(n_devices);
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, n_devices, devices.data(), nullptr) != CL_SUCCESS) continue;
    const std::string platform_name = platform_string(p, CL_PLATFORM_NAME);
    for (cl_device_id d : devices) {
      cl_device_type type = 0;
      clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, nullptr);
      const char* kind = (type & CL_DEVICE_TYPE_GPU) ? "GPU" : (type & CL_DEVICE_TYPE_CPU) ? "CPU"
                         : (type & CL_DEVICE_TYPE_ACCELERATOR) ? "accelerator" : "other";
      found.push_back({p, d, fmt::format("{} ({}, {})", device_string(d, CL_DEVICE_NAME), platform_name, kind)});
    }
  }
  return found;
}

class OpenCLKernel final : public LoadedKernel {
 public:
  OpenCLKernel(codegen::KernelSignature signature, codegen::LaunchShape shape, cl_kernel kernel,
               size_t max_work_group_size)
      : signature_(std::move(signature)), shape_(std::move(shape)), kernel_(kernel),
        max_work_group_size_(max_work_group_size) {}
  ~OpenCLKernel() override { clReleaseKernel(kernel_); }
  OpenCLKernel(const OpenCLKernel&) = delete;
  OpenCLKernel& operator=(const OpenCLKernel&) = delete;

  const codegen::KernelSignature& signature() const override { return signature_; }
  const codegen::LaunchShape& shape() const { return shape_; }
  cl_kernel handle() const { return kernel_; }
  size_t max_work_group_size() const { return max_work_group_size_; }
  // clSetKernelArg then enqueue must not interleave between threads on one cl_kernel.
  std::mutex& launch_mutex() const { return launch_mutex_; }

 private:
  codegen::KernelSignature signature_;
  codegen::LaunchShape shape_;
  cl_kernel kernel_;
  size_t max_work_group_size_;
  mutable std::mutex launch_mutex_;
};

class OpenCLDevice final : public Device {
 public:
  OpenCLDevice(int index, const FoundDevice& found)
      : index_(index), device_(found.device), description_(found.description), identity_(device_identity(found)) {
    cl_int err = CL_SUCCESS;
    const cl_context_properties props[] = {CL_CONTEXT_PLATFORM, reinterpret_cast<cl_context_properties>(found.platform), 0};
    context_ = clCreateContext(props, 1, &device_, nullptr, nullptr, &err);
    check(err, "clCreateContext");
    queue_ = clCreateCommandQueue(context_, device_, 0, &err);
    if (err != CL_SUCCESS) {
      clReleaseContext(context_);
      check(err, "clCreateCommandQueue");
    }
  }

  ~OpenCLDevice() override {
    for (auto& [source, program] : programs_) clReleaseProgram(program);
    clReleaseCommandQueue(queue_);
    clReleaseContext(context_);
  }
  OpenCLDevice(const OpenCLDevice&) = delete;
  OpenCLDevice& operator=(const OpenCLDevice&) = delete;

  std::string name() const override { return fmt::format("opencl:{} ({})", index_, description_); }

  // What OpenCL promises, refined by what this device reports: its local memory and work-group
  // limit (the rules' work-group stays the promised default or the largest power of two that fits).
  Target target() const override {
    Target t = generic_opencl_target();
    cl_ulong local_bytes = 0;
    size_t max_group = 0;
    if (clGetDeviceInfo(device_, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local_bytes, &local_bytes, nullptr) == CL_SUCCESS &&
        local_bytes > 0) {
      t.shared_memory_bytes = static_cast<int64_t>(local_bytes);
    }
    if (clGetDeviceInfo(device_, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_group, &max_group, nullptr) == CL_SUCCESS &&
        max_group > 0) {
      t.max_workgroup_size = static_cast<int>(std::min<size_t>(max_group, 1 << 20));
      while (t.workgroup_threads > t.max_workgroup_size) t.workgroup_threads /= 2;
    }
    return t;
  }

  Buffer allocate(size_t bytes) override {
    cl_int err = CL_SUCCESS;
    // OpenCL refuses empty buffers; a zero-byte tensor still gets a valid handle.
    cl_mem mem = clCreateBuffer(context_, CL_MEM_READ_WRITE, std::max<size_t>(bytes, 1), nullptr, &err);
    if (err != CL_SUCCESS) {
      user_error("OpenCL call clCreateBuffer failed for {} bytes on {}: {} ({})", bytes, name(),
                 cl_error_name(err), err);
    }
    return {mem, bytes};
  }

  void release(Buffer& buffer) override {
    if (buffer.handle) clReleaseMemObject(static_cast<cl_mem>(buffer.handle));
    buffer = {};
  }

  // CL_DEVICE_MEM_BASE_ADDR_ALIGN, in bytes: where a sub-buffer may start.
  size_t view_alignment() const override {
    cl_uint bits = 0;
    if (clGetDeviceInfo(device_, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits, &bits, nullptr) != CL_SUCCESS || bits < 8) {
      return 4096;
    }
    return bits / 8;
  }

  Buffer view(const Buffer& buffer, size_t offset, size_t bytes) override {
    KILN_CHECK(buffer.handle && offset + bytes <= buffer.bytes, "view of {} bytes at {} of a buffer of {}", bytes,
               offset, buffer.bytes);
    const cl_buffer_region region{offset, std::max<size_t>(bytes, 1)};
    cl_int err = CL_SUCCESS;
    cl_mem sub = clCreateSubBuffer(static_cast<cl_mem>(buffer.handle), CL_MEM_READ_WRITE,
                                   CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    if (err != CL_SUCCESS) {
      user_error("OpenCL call clCreateSubBuffer failed for {} bytes at offset {} on {}: {} ({})", bytes, offset,
                 name(), cl_error_name(err), err);
    }
    return {sub, bytes, true};
  }

  void write(Buffer& dst, const void* src, size_t bytes, size_t offset) override {
    KILN_CHECK(dst.handle && offset + bytes <= dst.bytes, "write of {} bytes at {} into a buffer of {}",
               bytes, offset, dst.bytes);
    if (bytes == 0) return;
    check(clEnqueueWriteBuffer(queue_, static_cast<cl_mem>(dst.handle), CL_TRUE, offset, bytes, src, 0,
                               nullptr, nullptr),
          "clEnqueueWriteBuffer");
  }

  void read(void* dst, const Buffer& src, size_t bytes, size_t offset) override {
    KILN_CHECK(src.handle && offset + bytes <= src.bytes, "read of {} bytes at {} from a buffer of {}",
               bytes, offset, src.bytes);
    if (bytes == 0) return;
    check(clEnqueueReadBuffer(queue_, static_cast<cl_mem>(src.handle), CL_TRUE, offset, bytes, dst, 0,
                              nullptr, nullptr),
          "clEnqueueReadBuffer");
  }

  std::unique_ptr<LoadedKernel> load(const codegen::CompiledKernel& kernel) override {
    const auto* code = std::get_if<codegen::OpenCLCode>(&kernel.code);
    if (!code) {
      user_error("kernel {} was compiled for the CPU and cannot run on {}; compile it for opencl",
                 kernel.signature.name, name());
    }
    KILN_CHECK(kernel.launch_shape, "OpenCL kernel {} has no launch shape", kernel.signature.name);
    cl_program program = build(*code, kernel.signature.name);
    cl_int err = CL_SUCCESS;
    cl_kernel k = clCreateKernel(program, code->function_name.c_str(), &err);
    check(err, "clCreateKernel");
    size_t max_group = 0;
    err = clGetKernelWorkGroupInfo(k, device_, CL_KERNEL_WORK_GROUP_SIZE, sizeof max_group, &max_group, nullptr);
    if (err != CL_SUCCESS) {
      clReleaseKernel(k);
      check(err, "clGetKernelWorkGroupInfo");
    }
    return std::make_unique<OpenCLKernel>(kernel.signature, kernel.launch_shape, k, max_group);
  }

  void launch(const LoadedKernel& loaded, std::span<Buffer* const> buffers, std::span<const int64_t> sizes) override {
    const auto* kernel = dynamic_cast<const OpenCLKernel*>(&loaded);
    KILN_CHECK(kernel != nullptr, "kernel {} was not loaded by {}", loaded.signature().name, name());
    const codegen::KernelSignature& sig = kernel->signature();
    KILN_CHECK(buffers.size() == sig.buffers.size() && sizes.size() == sig.size_params.size(),
               "kernel {} takes {} buffers and {} sizes, got {} and {}", sig.name, sig.buffers.size(),
               sig.size_params.size(), buffers.size(), sizes.size());

    std::array<int64_t, 3> grid{1, 1, 1}, block{1, 1, 1};
    kernel->shape()(sizes.data(), grid, block);
    std::array<size_t, 3> global{}, local{};
    size_t group_items = 1;
    for (int d = 0; d < 3; ++d) {
      KILN_CHECK(grid[d] >= 0 && block[d] >= 1, "kernel {} launch dimension {}: {} groups of {}", sig.name, d,
                 grid[d], block[d]);
      if (grid[d] == 0) return;  // nothing to do (an empty batch, say)
      global[d] = static_cast<size_t>(grid[d] * block[d]);
      local[d] = static_cast<size_t>(block[d]);
      group_items *= local[d];
    }
    if (group_items > kernel->max_work_group_size()) {
      user_error("kernel {} needs work-groups of {} work-items but {} allows at most {} for it", sig.name,
                 group_items, name(), kernel->max_work_group_size());
    }

    std::lock_guard lock(kernel->launch_mutex());
    cl_kernel k = kernel->handle();
    cl_uint arg = 0;
    for (size_t i = 0; i < buffers.size(); ++i, ++arg) {
      KILN_CHECK(buffers[i] && buffers[i]->handle, "kernel {}: buffer {} is not allocated", sig.name, sig.buffers[i]);
      cl_mem mem = static_cast<cl_mem>(buffers[i]->handle);
      check(clSetKernelArg(k, arg, sizeof(cl_mem), &mem), "clSetKernelArg");
    }
    for (int64_t s : sizes) {
      const cl_long value = s;
      check(clSetKernelArg(k, arg++, sizeof(cl_long), &value), "clSetKernelArg");
    }
    check(clEnqueueNDRangeKernel(queue_, k, 3, nullptr, global.data(), local.data(), 0, nullptr, nullptr),
          "clEnqueueNDRangeKernel");
    check(clFinish(queue_), "clFinish");
  }

 private:
  // The built program for `code`, built once per distinct source on this device: from the
  // disk cache's binary when there is a good one, else from source (then stored there).
  cl_program build(const codegen::OpenCLCode& code, const std::string& kernel_name) {
    std::lock_guard lock(programs_mutex_);
    if (auto it = programs_.find(code.source); it != programs_.end()) return it->second;
    const std::string cache_dir = codegen::kernel_cache_dir();
    // The identity is kept whole in the entry, so a hash collision is a miss, never a wrong program.
    const std::string identity = fmt::format("kiln-opencl-program-1\n{}options {}\n{}", identity_, kBuildOptions,
                                             code.source);
    const std::string file_name = codegen::fnv1a_hex(identity) + ".clbin";
    cl_program program = nullptr;
    if (!cache_dir.empty()) {
      const codegen::CacheEntry cached = codegen::read_cache_entry(cache_dir, file_name, identity);
      if (cached.status == codegen::CacheLookup::Hit) program = build_from_binary(cached.payload);
      if (program) {
        ++binary_loads;
      } else if (cached.status != codegen::CacheLookup::Missing) {
        ++binary_rejects;
      }
    }
    if (!program) {
      program = build_from_source(code, kernel_name);
      ++source_builds;
      if (!cache_dir.empty()) {
        const std::string binary = program_binary(program);
        if (!binary.empty()) codegen::write_cache_entry(cache_dir, file_name, identity, binary);
      }
    }
    programs_.emplace(code.source, program);
    return program;
  }

  cl_program build_from_source(const codegen::OpenCLCode& code, const std::string& kernel_name) {
    cl_int err = CL_SUCCESS;
    const char* text = code.source.c_str();
    const size_t length = code.source.size();
    cl_program program = clCreateProgramWithSource(context_, 1, &text, &length, &err);
    check(err, "clCreateProgramWithSource");
    err = clBuildProgram(program, 1, &device_, kBuildOptions, nullptr, nullptr);
    if (err != CL_SUCCESS) {
      const std::string log = build_log(program, device_);
      clReleaseProgram(program);
      user_error("OpenCL call clBuildProgram failed for kernel {} on {}: {} ({})\nbuild log:\n{}", kernel_name,
                 name(), cl_error_name(err), err, log);
    }
    return program;
  }

  // Null when the driver refuses the binary (another driver build wrote it, say): the caller
  // then builds from source.
  cl_program build_from_binary(const std::string& binary) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(binary.data());
    const size_t length = binary.size();
    cl_int binary_status = CL_SUCCESS, err = CL_SUCCESS;
    cl_program program = clCreateProgramWithBinary(context_, 1, &device_, &length, &bytes, &binary_status, &err);
    if (err != CL_SUCCESS || binary_status != CL_SUCCESS) {
      if (program) clReleaseProgram(program);
      return nullptr;
    }
    if (clBuildProgram(program, 1, &device_, kBuildOptions, nullptr, nullptr) != CL_SUCCESS) {
      clReleaseProgram(program);
      return nullptr;
    }
    return program;
  }

  int index_;
  cl_device_id device_;
  std::string description_;
  std::string identity_;  // device_identity()
  cl_context context_ = nullptr;
  cl_command_queue queue_ = nullptr;
  std::mutex programs_mutex_;
  std::map<std::string, cl_program> programs_;  // by source text
};

}  // namespace

OpenCLProgramStats opencl_program_stats() {
  return {source_builds.load(), binary_loads.load(), binary_rejects.load()};
}

std::unique_ptr<Device> open_opencl_device(int index) {
  const std::vector<FoundDevice> devices = list_devices();
  if (devices.empty()) {
    user_error("no OpenCL platform found: install pocl-opencl-icd (runs OpenCL on the CPU) or your GPU "
               "vendor's OpenCL driver, and check that `clinfo` lists a device");
  }
  if (index < 0 || index >= static_cast<int>(devices.size())) {
    std::string available;
    for (size_t i = 0; i < devices.size(); ++i) {
      available += fmt::format("{}{}: {}", i ? "; " : "", i, devices[i].description);
    }
    user_error("OpenCL device {} does not exist; available: {}", index, available);
  }
  return std::make_unique<OpenCLDevice>(index, devices[index]);
}

}  // namespace kiln::runtime
