#include "runtime/executable.h"

#include <algorithm>
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

size_t Executable::plan_arena(size_t alignment) {
  offsets_.assign(slot_count, 0);
  planned_bytes_.assign(slot_count, 0);
  bound_.assign(slot_count, 0);
  free_.clear();
  for (uint32_t slot : leaf_slots) bound_[slot] = 1;
  for (uint32_t slot : output_slots) bound_[slot] = 1;
  size_t top = 0;
  for (const ExecStep& step : steps) {
    switch (step.kind) {
      case ExecStep::Kind::Allocate: {
        if (bound_[step.slot]) break;  // the caller's buffer, or one shared in place
        const size_t want = static_cast<size_t>(std::max<int64_t>(size_values_[step.size], 1));
        const size_t bytes = (want + alignment - 1) / alignment * alignment;
        size_t offset = top;
        const auto fit = std::find_if(free_.begin(), free_.end(), [&](const Range& r) { return r.bytes >= bytes; });
        if (fit != free_.end()) {
          offset = fit->offset;
          fit->offset += bytes;
          fit->bytes -= bytes;
          if (fit->bytes == 0) free_.erase(fit);
        } else if (!free_.empty() && free_.back().offset + free_.back().bytes == top) {
          // The last free range ends at the top: start there and grow past it.
          offset = free_.back().offset;
          free_.pop_back();
          top = offset + bytes;
        } else {
          top += bytes;
        }
        offsets_[step.slot] = offset;
        planned_bytes_[step.slot] = bytes;
        bound_[step.slot] = 1;
        break;
      }
      case ExecStep::Kind::Release: {
        const size_t bytes = planned_bytes_[step.slot];
        if (bytes == 0) break;
        // Back into the free ranges, kept sorted and merged with its neighbours.
        const size_t offset = offsets_[step.slot];
        auto next = std::lower_bound(free_.begin(), free_.end(), offset,
                                     [](const Range& r, size_t at) { return r.offset < at; });
        auto it = free_.insert(next, Range{offset, bytes});
        if (std::next(it) != free_.end() && it->offset + it->bytes == std::next(it)->offset) {
          it->bytes += std::next(it)->bytes;
          free_.erase(std::next(it));
        }
        if (it != free_.begin() && std::prev(it)->offset + std::prev(it)->bytes == it->offset) {
          std::prev(it)->bytes += it->bytes;
          free_.erase(it);
        }
        break;
      }
      case ExecStep::Kind::View:
      case ExecStep::Kind::Alias:
      case ExecStep::Kind::Share: bound_[step.slot] = 1; break;
      case ExecStep::Kind::Launch: break;
    }
  }
  return top;
}

void Executable::load(Device& device) {
  if (loaded_on_ == &device) return;
  loaded_.clear();
  for (const codegen::CompiledKernel& k : kernels) loaded_.push_back(device.load(k));
  loaded_on_ = &device;
}

void Executable::release_memory() {
  if (arena_device_ != nullptr && arena_.handle != nullptr) arena_device_->release(arena_);
  arena_ = Buffer{};
  arena_device_ = nullptr;
}

void Executable::run(Device& device, std::span<Buffer* const> leaves, std::span<const int64_t> symbol_values,
                     std::span<Buffer* const> outputs) {
  const auto run_start = Clock::now();
  double kernel_seconds = 0;
  KILN_CHECK(leaves.size() == leaf_slots.size(), "{} leaves bound of {}", leaves.size(), leaf_slots.size());
  KILN_CHECK(symbol_values.size() == symbols.size(), "{} symbols bound of {}", symbol_values.size(), symbols.size());
  KILN_CHECK(outputs.size() == output_slots.size(), "{} output buffers for {} outputs", outputs.size(), output_slots.size());
  load(device);
  size_values_.resize(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) size_values_[i] = sizes[i].evaluate(symbol_values);
  for (const SizeCheck& c : checks) {
    const int64_t value = size_values_[c.size];
    if (value % c.multiple != 0) {
      user_error("{} = {} is not a multiple of {} (a quantized row holds whole blocks)", c.what, value, c.multiple);
    }
  }
  const size_t arena_bytes = plan_arena(device.view_alignment());
  if (arena_device_ != &device || arena_.bytes < arena_bytes) {
    // Growing, take a quarter more, so that a context that lengthens step by step does not
    // reallocate at every step; the first arena is what the plan asks.
    const size_t bytes = arena_.bytes == 0 || arena_device_ != &device ? arena_bytes : arena_bytes + arena_bytes / 4;
    release_memory();
    arena_ = device.allocate(std::max<size_t>(bytes, 1));
    arena_device_ = &device;
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
          if (planned_bytes_[step.slot] != 0) own(step.slot, device.view(arena_, offsets_[step.slot], planned_bytes_[step.slot]));
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

void Executable::reset_profile() {
  for (KernelTime& t : times_) t = KernelTime{};
  host_seconds_ = 0;
  runs_ = 0;
}

}  // namespace kiln::runtime
