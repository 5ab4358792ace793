#include "runtime/executable.h"

#include <chrono>

#include "base/error.h"

namespace kiln::runtime {
namespace {

using Clock = std::chrono::steady_clock;

size_t index_of(const std::vector<std::string>& names, const std::string& name, const char* what) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return i;
  }
  user_error("the program has no {} '{}'", what, name);
}

}  // namespace

size_t Executable::leaf_index(const std::string& name) const { return index_of(leaf_names, name, "input or weight"); }
size_t Executable::symbol_index(const std::string& name) const { return index_of(symbols, name, "symbol"); }

void Executable::release_owned(Device& device) {
  // Newest first: views are released before the buffers they look into.
  for (auto it = owned_order_.rbegin(); it != owned_order_.rend(); ++it) {
    if (is_owned_[*it]) {
      device.release(owned_[*it]);
      is_owned_[*it] = 0;
    }
  }
  owned_order_.clear();
}

void Executable::run(Device& device, std::span<Buffer* const> leaves, std::span<const int64_t> symbol_values,
                     std::span<Buffer* const> outputs) {
  const auto run_start = Clock::now();
  double kernel_seconds = 0;
  KILN_CHECK(leaves.size() == leaf_slots.size(), "{} leaves bound of {}", leaves.size(), leaf_slots.size());
  KILN_CHECK(symbol_values.size() == symbols.size(), "{} symbols bound of {}", symbol_values.size(), symbols.size());
  KILN_CHECK(outputs.size() == output_slots.size(), "{} output buffers for {} outputs", outputs.size(), output_slots.size());
  if (loaded_on_ != &device) {
    loaded_.clear();
    for (const codegen::CompiledKernel& k : kernels) loaded_.push_back(device.load(k));
    loaded_on_ = &device;
  }
  size_values_.resize(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) size_values_[i] = sizes[i].evaluate(symbol_values);
  for (const SizeCheck& c : checks) {
    const int64_t value = size_values_[c.size];
    if (value % c.multiple != 0) {
      user_error("{} = {} is not a multiple of {} (a quantized row holds whole blocks)", c.what, value, c.multiple);
    }
  }
  slots_.assign(slot_count, nullptr);
  owned_.resize(slot_count);
  is_owned_.assign(slot_count, 0);
  owned_order_.clear();
  if (times_.size() != kernels.size()) times_.assign(kernels.size(), {});
  for (size_t i = 0; i < leaves.size(); ++i) slots_[leaf_slots[i]] = leaves[i];
  for (size_t i = 0; i < outputs.size(); ++i) slots_[output_slots[i]] = outputs[i];
  const auto own = [&](uint32_t slot, Buffer buffer) {
    owned_[slot] = buffer;
    is_owned_[slot] = 1;
    owned_order_.push_back(slot);
    slots_[slot] = &owned_[slot];
  };
  try {
    for (const ExecStep& step : steps) {
      switch (step.kind) {
        case ExecStep::Kind::Launch: {
          args_.clear();
          for (uint32_t slot : step.buffers) args_.push_back(slots_[slot]);
          arg_sizes_.clear();
          for (uint32_t s : step.sizes) arg_sizes_.push_back(size_values_[s]);
          const auto start = profiling_ ? Clock::now() : Clock::time_point();
          device.launch(*loaded_[step.kernel], args_, arg_sizes_);
          if (profiling_) {
            const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
            times_[step.kernel].launches += 1;
            times_[step.kernel].seconds += seconds;
            kernel_seconds += seconds;
          }
          break;
        }
        case ExecStep::Kind::Allocate:
          if (slots_[step.slot] == nullptr) {
            own(step.slot, device.allocate(static_cast<size_t>(std::max<int64_t>(size_values_[step.size], 1))));
          }
          break;
        case ExecStep::Kind::View:
          own(step.slot, device.view(*slots_[step.source], static_cast<size_t>(size_values_[step.offset]),
                                     static_cast<size_t>(size_values_[step.size])));
          break;
        case ExecStep::Kind::Alias:
          if (slots_[step.slot] == nullptr) slots_[step.slot] = slots_[step.source];
          break;
        case ExecStep::Kind::Share: slots_[step.slot] = slots_[step.source]; break;
        case ExecStep::Kind::Release:
          if (is_owned_[step.slot]) {
            device.release(owned_[step.slot]);
            is_owned_[step.slot] = 0;
          }
          break;
      }
    }
  } catch (...) {
    release_owned(device);
    throw;
  }
  release_owned(device);
  if (profiling_) {
    host_seconds_ += std::chrono::duration<double>(Clock::now() - run_start).count() - kernel_seconds;
    ++runs_;
  }
}

}  // namespace kiln::runtime
