// The CPU's stand-in for the CublasLt backend: A and B rounded to the plan's
// precision exactly as the device conversion rounds them (gemm/lowp.h), then
// fp32 sgemm with alpha * s_A * s_B. Only the summation order differs from the
// tensor cores, so the CUDA backend is tested against this (tests/gemm/test_lowp.cpp).
#include <cblas.h>

#include <algorithm>

#include "gemm/backends.h"
#include "gemm/lowp.h"

namespace deftnn {

float round_operand(const float* x, int64_t rows, int64_t cols, int64_t rs, int64_t cs, Precision p, float* out) {
  const float s = p == Precision::FP8E4M3 ? fp8_scale(lowp_amax(x, rows, cols, rs, cs)) : 1.f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = lowp_round(x[r * rs + c * cs], p, s);
  return s;
}

void cpu_emulated_gemm(Context& ctx, const GemmArgs& a, Precision p) {
  DEFTNN_CHECK(is_lowp_precision(p), "GEMM backend cpu-emulated: precision {} is not bf16, fp16 or fp8e4m3",
               precision_name(p));
  if (a.M == 0 || a.N == 0) return;
  const ConvertedMatrix* ca = a.converted_a;
  if (ca) {
    DEFTNN_CHECK(!a.trans_a && ca->precision == p && ca->rows == a.M && ca->cols == a.K && !ca->data.is_cuda(),
                 "GEMM cpu-emulated: converted A ({} {}x{}) does not match the call ({} {}x{}{})",
                 precision_name(ca->precision), ca->rows, ca->cols, precision_name(p), a.M, a.K,
                 a.trans_a ? ", trans_a" : "");
  }
  // op(A) (M, K) and op(B)^T (N, K), both rounded, in the Gemm scratch slot.
  const size_t a_elems = ca ? 0 : size_t(a.M * a.K), b_elems = size_t(a.N * a.K);
  float* ws = static_cast<float*>(ctx.workspace((a_elems + b_elems) * sizeof(float), Context::Scratch::Gemm));
  const float* ra = ca ? ca->data.data<float>() : ws;
  const float sa = ca ? ca->scale.data<float>()[0]
                      : round_operand(a.A, a.M, a.K, a.trans_a ? 1 : a.lda, a.trans_a ? a.lda : 1, p, ws);
  float* rb = ws + a_elems;
  const float sb = round_operand(a.B, a.N, a.K, a.trans_b ? a.ldb : 1, a.trans_b ? 1 : a.ldb, p, rb);
  const float alpha = a.alpha * sa * sb;
  const int M = int(a.M), N = int(a.N), K = int(a.K), ldk = std::max(K, 1);
  if (a.trans_c)  // C^T (N, M) = B' (N, K) A'^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, M, K, alpha, rb, ldk, ra, ldk, a.beta, a.C, int(a.ldc));
  else  // C (M, N) = A' (M, K) B'^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, ra, ldk, rb, ldk, a.beta, a.C, int(a.ldc));
}

}  // namespace deftnn
