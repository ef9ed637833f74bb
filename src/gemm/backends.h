// Private to gemm/: the backends behind the front door. Arguments arrive
// checked and with explicit strides.
#pragma once

#include "gemm/gemm.h"

namespace deftnn {

GemmArgs with_tight_strides(GemmArgs a);
void cpu_blas_gemm(const GemmArgs& a);
// cublas_backend.cpp (throws without CUDA).
// tf32: CUBLAS_COMPUTE_32F_FAST_TF32 instead of plain fp32 FFMA.
void cublas_gemm(Context& ctx, const GemmArgs& a, bool tf32);
// cublaslt_backend.cpp (throws without CUDA): bf16 / fp16 / fp8e4m3 tensor cores.
void cublaslt_gemm(Context& ctx, const GemmArgs& a, Precision p);
// cpu_emulated.cpp: the same precisions on the CPU, inputs rounded as on the GPU.
void cpu_emulated_gemm(Context& ctx, const GemmArgs& a, Precision p);
// op(X) (rows, cols), element (r, c) at x[r * rs + c * cs], rounded to p into
// out (rows, cols) tight; returns the scale (fp8: from amax; else 1).
float round_operand(const float* x, int64_t rows, int64_t cols, int64_t rs, int64_t cs, Precision p, float* out);
// mixed_backend.cpp: kernel mixed, on CUDA (Mixed) and the CPU (CpuMixed).
void mixed_backend_gemm(Context& ctx, const GemmArgs& a, const GemmPlan& plan);
// kernels/fission_gemm.cu (throws without CUDA).
void fission_gemm(Context& ctx, const GemmArgs& a, const GemmPlan& plan);

}  // namespace deftnn
