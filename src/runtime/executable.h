// A compiled program as the runtime runs it: a flat list of steps over numbered buffer slots,
// with every size a small expression over numbered symbols (size_expr.h). The compiler builds it
// once (compiler::GraphProgram); a run evaluates the sizes once, then walks the list, launching
// kernels with argument arrays it reuses: no map, no string, no size evaluated per kernel.
//
// Slots: the caller binds the leaves (inputs, weights) and the outputs; Allocate steps give the
// others memory, View and Alias steps share another slot's, and Release steps free what is no
// longer read. The list is in launch order.
//
// Memory: every Allocate lives in one arena, kept from run to run. Each run first plans the
// arena for its sizes (first fit over the free ranges, in step order, a range freed at its
// Release), grows the arena if the plan needs more, then walks the list, each allocation a view
// into the arena: no allocator call per buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "codegen/artifact.h"
#include "runtime/device.h"
#include "runtime/size_expr.h"

namespace kiln::runtime {

struct ExecStep {
  enum class Kind : uint8_t {
    Launch,    // kernel with buffers (slots) and sizes (indices into Executable::sizes)
    Allocate,  // slot = `size` bytes, unless the caller bound it (an output)
    View,      // slot = bytes [offset, offset + size) of source
    Alias,     // slot = source's buffer, unless the caller bound it (an output)
    Share,     // slot = source's buffer, always (a result written in place)
    Release,   // slot's memory freed, if a step allocated it
  };
  Kind kind = Kind::Launch;
  uint32_t slot = 0;
  uint32_t source = 0;
  uint32_t size = 0;    // Allocate, View: bytes
  uint32_t offset = 0;  // View: bytes
  uint32_t kernel = 0;  // Launch: index into Executable::kernels
  std::vector<uint32_t> buffers;
  std::vector<uint32_t> sizes;
};

// A size that must be a multiple of a number (a quantized row holds whole blocks): checked once
// per run, before anything is launched.
struct SizeCheck {
  uint32_t size = 0;
  int64_t multiple = 1;
  std::string what;  // "operator 'matmul_q4_0': size k", for the error
};

class Executable {
 public:
  // What the compiler fills in.
  std::vector<std::string> symbols;       // symbol slot -> name
  std::vector<SizeExpr> sizes;
  std::vector<SizeCheck> checks;
  std::vector<codegen::CompiledKernel> kernels;
  uint32_t slot_count = 0;
  std::vector<std::string> leaf_names;    // leaf i binds slot leaf_slots[i]
  std::vector<uint32_t> leaf_slots;
  std::vector<uint32_t> output_slots;
  std::vector<ExecStep> steps;

  // The index of a leaf or a symbol by name; UserError if there is none.
  size_t leaf_index(const std::string& name) const;
  size_t symbol_index(const std::string& name) const;

  // Loads the kernels onto `device` (again only when the device changes); run() does it too.
  void load(Device& device);
  // Runs the list on `device` (loading the kernels on first use of a device). leaves[i] binds
  // leaf i, symbols[i] symbol i, outputs[i] output i (large enough for its shape).
  void run(Device& device, std::span<Buffer* const> leaves, std::span<const int64_t> symbols,
           std::span<Buffer* const> outputs);

  // Launches and time per kernel since profiling was switched on (launch to finish).
  void set_profiling(bool on) { profiling_ = on; }
  // Zeroes the times, host time and run count (profiling stays as it is).
  void reset_profile();
  struct KernelTime {
    int64_t launches = 0;
    double seconds = 0;
  };
  const std::vector<KernelTime>& kernel_times() const { return times_; }  // by kernel index
  size_t arena_bytes() const { return arena_.bytes; }

  // Frees the arena, which is kept from run to run otherwise: the owner calls this before the
  // device goes away (a destructor cannot, the device may be gone by then).
  void release_memory();

  // Host time spent in run() outside the kernels, since profiling was switched on.
  double host_seconds() const { return host_seconds_; }
  int64_t runs() const { return runs_; }

 private:
  void release_owned(Device& device);
  // Offsets in the arena for this run's allocations; returns the bytes the arena needs.
  size_t plan_arena(size_t alignment);

  Device* loaded_on_ = nullptr;
  std::vector<std::unique_ptr<LoadedKernel>> loaded_;
  // Reused from run to run.
  std::vector<int64_t> size_values_;
  Buffer arena_;
  Device* arena_device_ = nullptr;
  std::vector<size_t> offsets_;        // by slot: where its allocation starts in the arena
  std::vector<size_t> planned_bytes_;  // by slot: its arena bytes (0: not from the arena)
  std::vector<uint8_t> bound_;         // by slot, while planning: whether it has a buffer
  struct Range {
    size_t offset;
    size_t bytes;
  };
  std::vector<Range> free_;            // free arena ranges while planning, by offset
  std::vector<Buffer*> slots_;
  std::vector<Buffer> owned_;
  std::vector<uint8_t> is_owned_;
  std::vector<uint32_t> owned_order_;  // slots in the order their memory was made
  std::vector<Buffer*> args_;
  std::vector<int64_t> arg_sizes_;
  bool profiling_ = false;
  std::vector<KernelTime> times_;
  double host_seconds_ = 0;
  int64_t runs_ = 0;
};

}  // namespace kiln::runtime
