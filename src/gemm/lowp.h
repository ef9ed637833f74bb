// The tensor-core input precisions (bf16, fp16, fp8 e4m3) on the host: the
// rounding rules the CublasLt backend's conversion kernel applies, here for
// the CpuEmulated backend and the tests, and the one-time conversion of a
// weight (ConvertedMatrix, gemm.h).
//
// Rounding (bit for bit what the device conversion does; formats/codec.h's
// encoders, which match Hopper's cvt instructions):
//   bf16     round to nearest even (__float2bfloat16_rn); overflow -> Inf.
//   fp16     IEEE round to nearest even with subnormals (__float2half_rn);
//            overflow -> Inf.
//   fp8e4m3  per-tensor scale s = amax / 448 (1 when amax is 0 or not
//            finite), then e4m3(x / s) rounded to nearest even and saturated
//            (cvt .satfinite: |x / s| > 448 -> 448, NaN stays NaN). The GEMM
//            multiplies the product by s_A * s_B (cuBLASLt's A/B scale pointers).
#pragma once

#include <cstdint>

#include "gemm/gemm.h"

namespace deftnn {

// True for the precisions the CublasLt / CpuEmulated backends run.
inline bool is_lowp_precision(Precision p) {
  return p == Precision::BF16 || p == Precision::FP16 || p == Precision::FP8E4M3;
}

// e4m3's largest finite value: the per-tensor scale maps amax onto it.
inline constexpr float kFp8E4M3Max = 448.f;

// The dequantisation scale of an fp8 tensor whose largest magnitude is amax.
float fp8_scale(float amax);
// x rounded to precision p after division by scale (scale is 1 except for
// fp8), as the value the tensor cores multiply (not multiplied back by scale).
float lowp_round(float x, Precision p, float scale = 1.f);
// The largest |x| of a (rows, cols) matrix, element (r, c) at x[r * rs + c * cs]; NaN ignored.
float lowp_amax(const float* x, int64_t rows, int64_t cols, int64_t rs, int64_t cs);

// W (rows, cols) fp32, tight row-major on ctx's device, converted once to p
// (the layout of ConvertedMatrix, gemm.h). p must satisfy is_lowp_precision.
ConvertedMatrix convert_matrix(Context& ctx, const Tensor& W, Precision p);

}  // namespace deftnn
