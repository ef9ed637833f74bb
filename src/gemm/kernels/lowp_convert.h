// Device side of the tensor-core precisions (lowp_convert.cu), plain-typed:
// the fp8 amax reduction, fp32 -> bf16/fp16/e4m3 conversion into cuBLASLt's
// K-contiguous, zero-padded layout, and the copy of a padded fp8 result into
// C. Every launcher queues on `stream` (a cudaStream_t) and checks its launch;
// without CUDA they throw (lowp_convert_nocuda.cpp).
#pragma once

#include <cstdint>

#include "plan/exec_types.h"

namespace deftnn {

// *amax = max |x(r, c)| over a (rows, cols) matrix, element (r, c) at
// x[r * rs + c * cs]; NaN ignored. amax: one device float, zeroed here first.
void lowp_amax_device(const float* x, int64_t rows, int64_t cols, int64_t rs, int64_t cs, float* amax, void* stream);

// out (rows_out, ld_out) in precision p (BF16: __nv_bfloat16, FP16: __half,
// FP8E4M3: e4m3 bytes): out[r * ld_out + c] = round(x(r, c) / s) for r < rows,
// c < cols, 0 elsewhere; rows_out >= rows, ld_out >= cols. fp8: s =
// fp8_scale(*amax) (gemm/lowp.h), and `scale` (one device float, may be null)
// receives s; other precisions: s = 1, amax and scale unused (null is fine).
void lowp_convert_device(const float* x, int64_t rows, int64_t cols, int64_t rs, int64_t cs, Precision p,
                         const float* amax, float* scale, void* out, int64_t rows_out, int64_t ld_out, void* stream);

// C(i, j) = D(i, j) + beta * C(i, j) for i < m, j < n, column-major (element
// (i, j) at i + j * ld); beta == 0 writes D alone (a NaN in C does not leak).
void lowp_copy_out_device(const float* d, int64_t ldd, float* c, int64_t ldc, int64_t m, int64_t n, float beta,
                          void* stream);

}  // namespace deftnn
