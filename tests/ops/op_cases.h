// The op test matrix's cases, for any executor of compute definitions: the interpreter here
// (compute_def_test.cpp), and the compiled kernels of every target later. Each case is an op's
// ComputeDef, a binding of its sizes, random inputs (bytes as the kernel's buffers hold them,
// and the exact values they encode), and the reference's expected outputs with a tolerance.
//
// To run a case: bind each input's `bytes` to the buffer of its name and the sizes in
// def.size_params order, poison and run, then decode() each output's bytes with its dtype and
// check() it against `expected`.
//
// The symbolic size under test takes the values of test_sizes() (1, 3, 64, 257, 1031) while the
// others stay small; a dimension that holds quantized blocks takes whole numbers of blocks.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "kernel/compute/compute_def.h"

namespace kiln::test {

// A tensor on the host: its bytes as a kernel's buffer holds them (storage_type elements,
// row-major, or raw blocks), and the exact values they encode.
struct HostTensor {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  std::vector<double> values;
};

// Element i passes when |got - want| <= atol + rtol * |want| (NaN matches only NaN, an
// infinity only itself). Float32 ops take rtol 1e-5 and, where the result is a sum, an atol of
// rtol times the largest |want| of the output, so the bound is relative to the sum's scale.
struct Tolerance {
  double rtol = 0;
  double atol = 0;
};

struct OpCase {
  std::string family;                    // "unary", "matmul", ... (op_families())
  std::string name;                      // unique and readable: "matmul_q4_0 m=257 n=1 k=32"
  kernel::ComputeDef def;
  std::map<std::string, int64_t> sizes;  // every size parameter bound
  std::vector<HostTensor> inputs;        // in def.inputs order
  std::vector<HostTensor> expected;      // in def.outputs order: name, dtype, shape, values
  Tolerance tolerance;

  // The inputs' bytes by name, as an executor binds them.
  std::map<std::string, const std::vector<uint8_t>*> input_buffers() const;
};

using Rng = std::mt19937_64;

const std::vector<int64_t>& test_sizes();
// Every weight dtype matmul and embedding are tested with.
const std::vector<DType>& weight_dtypes();

std::vector<std::string> op_families();
// The cases of one family (or of all, for ""), with inputs drawn from `seed`.
std::vector<OpCase> op_cases(const std::string& family, uint64_t seed = 1);

// Random inputs. Floats uniform in [lo, hi] (rounded to f16/bf16 for those dtypes); integers
// uniform in [lo, hi]; block formats random bytes with sane f16 scales (lo, hi unused).
HostTensor random_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape, Rng& rng, double lo = -1,
                         double hi = 1);
// A tensor holding `values` (each rounded to `dtype`, which is not a block format).
HostTensor tensor_of(const std::string& name, DType dtype, std::vector<int64_t> shape, const std::vector<double>& values);
// The exact values that `bytes` of `dtype` encode.
std::vector<double> decode(DType dtype, const std::vector<uint8_t>& bytes);
// An empty string if `got` matches `expected` within `tolerance`, else a report of the worst
// and first mismatches.
std::string check(const HostTensor& expected, const std::vector<double>& got, const Tolerance& tolerance);

}  // namespace kiln::test
