// Plain-loop fp64 GEMM with the front door's interface: the reference every
// GEMM backend is checked against.
#pragma once

#include <vector>

#include "gemm/gemm.h"

namespace deftnn::test {

// Returns C = alpha * op(A) op(B) + beta * C0 as stored (respecting trans_c and ldc).
inline std::vector<double> gemm_reference(const GemmArgs& a, const std::vector<float>& A, const std::vector<float>& B,
                                          const std::vector<float>& C0) {
  int64_t lda = a.lda ? a.lda : (a.trans_a ? a.M : a.K);
  int64_t ldb = a.ldb ? a.ldb : (a.trans_b ? a.K : a.N);
  int64_t ldc = a.ldc ? a.ldc : (a.trans_c ? a.M : a.N);
  std::vector<double> C(C0.begin(), C0.end());
  for (int64_t m = 0; m < a.M; ++m)
    for (int64_t n = 0; n < a.N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < a.K; ++k) {
        double av = a.trans_a ? A[k * lda + m] : A[m * lda + k];
        double bv = a.trans_b ? B[n * ldb + k] : B[k * ldb + n];
        s += av * bv;
      }
      int64_t ci = a.trans_c ? n * ldc + m : m * ldc + n;
      C[ci] = a.alpha * s + (a.beta == 0 ? 0.0 : a.beta * double(C0[ci]));
    }
  return C;
}

}  // namespace deftnn::test
