// The loop-IR verifier: the invariants every lowering pass keeps, checked after each of them.
//
//  - every variable is defined where it is read: a size parameter, an enclosing loop or let;
//  - every buffer read or written is a kernel parameter or an enclosing allocation, and only
//    outputs and allocations are written; no tensor Access is left (lowering replaces them);
//  - vector widths agree: a store's index and value, a load's index and result; vectorized and
//    unrolled loops have constant extents; register, local and shared allocations constant sizes;
//  - GPU loops run only inside GPU loops (a grid or work-group cannot start inside a serial
//    loop), block loops outside thread loops, shared memory only in GPU kernels;
//  - a barrier is reached by every thread of the work-group: it sits inside a thread loop that
//    covers the work-group (once the launch shape is known), and under no condition and in no
//    loop whose bounds differ from thread to thread.
// A violation is an InternalError that names the kernel, the pass just run and the problem.
#pragma once

#include <string>

#include "kernel/ir/kernel.h"

namespace kiln::ir {

void verify(const Kernel& kernel, const std::string& after_pass);

}  // namespace kiln::ir
