// cuBLAS behind the GEMM front door.
//
// Row-major C = A * B is column-major C^T = B^T * A^T, so cuBLAS is called
// with the operands swapped (N, M, K) and no data moves.
#include "gemm/backends.h"

#ifdef DEFTNN_WITH_CUDA
#include <cublas_v2.h>

#include "core/cuda_check.h"
#endif

namespace deftnn {

void cublas_gemm(Context& ctx, const GemmArgs& a, bool tf32) {
#ifdef DEFTNN_WITH_CUDA
  if (a.M == 0 || a.N == 0) return;
  cublasHandle_t h = ctx.cublas();
  // Row-major C (M x N) is column-major C^T (N x M) = op(B)^T op(A)^T: swap
  // the operands. Row-major C^T (trans_c) is column-major C (M x N) = op(A) op(B)
  // where a row-major (M x K) A reads as column-major (K x M), hence the flipped ops.
  const void *X = a.B, *Y = a.A;
  int ldx = int(a.ldb), ldy = int(a.lda);
  cublasOperation_t opX = a.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opY = a.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  int m = int(a.N), n = int(a.M), k = int(a.K);
  if (a.trans_c) {
    X = a.A, Y = a.B, ldx = int(a.lda), ldy = int(a.ldb);
    opX = a.trans_a ? CUBLAS_OP_N : CUBLAS_OP_T;
    opY = a.trans_b ? CUBLAS_OP_N : CUBLAS_OP_T;
    m = int(a.M), n = int(a.N);
  }
  const cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  DEFTNN_CUBLAS_CHECK(cublasGemmEx(h, opX, opY, m, n, k, &a.alpha, X, CUDA_R_32F, ldx, Y, CUDA_R_32F, ldy, &a.beta,
                                   a.C, CUDA_R_32F, int(a.ldc), compute, CUBLAS_GEMM_DEFAULT));
#else
  DEFTNN_FAIL("GEMM backend {}: {}", tf32 ? "cublas-tf32" : "cublas", cuda_unavailable_reason());
#endif
}

}  // namespace deftnn
