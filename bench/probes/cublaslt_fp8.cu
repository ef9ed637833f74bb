// Probe: which cuBLASLt fp8 e4m3 matmul set-ups does this GPU and library
// take? (the engine's CublasLt backend got CUBLAS_STATUS_NOT_SUPPORTED from
// cublasLtMatmul after a heuristic had returned an algorithm). Tries, on a TN
// product D (m, n) = A^T B with A (k, m), B (k, n): fp32 or bf16 C/D, beta 0
// or 1, the A/B scale pointers set before or after the heuristic, or not at
// all. Found on H100 with cuBLASLt 13.1: every set-up with scale pointers was
// refused while B's scale was 4 bytes past A's; "align16" tests the cause. Build and run on the GPU machine:
//   nvcc -O2 -arch=sm_90 bench/probes/cublaslt_fp8.cu -lcublasLt -o /tmp/p8 && /tmp/p8
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdio>

namespace {

const char* name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "ok";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "NOT_SUPPORTED";
    case CUBLAS_STATUS_INVALID_VALUE: return "INVALID_VALUE";
    default: return "other";
  }
}

void attempt(cublasLtHandle_t h, void* ws, size_t wsb, int m, int n, int k, cudaDataType_t ct, float beta,
             int scales /*0 none, 1 before heuristic, 2 after, 3 before with B's 16-byte aligned*/) {
  void *A, *B, *D;
  float* sc;
  cudaMalloc(&A, size_t(k) * m);
  cudaMalloc(&B, size_t(k) * n);
  cudaMalloc(&D, size_t(m) * n * 4);
  cudaMalloc(&sc, 64);
  cudaMemset(A, 0x38, size_t(k) * m);  // 1.0 in e4m3
  cudaMemset(B, 0x38, size_t(k) * n);
  cudaMemset(D, 0, size_t(m) * n * 4);
  const float one[8] = {1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f};
  cudaMemcpy(sc, one, 32, cudaMemcpyHostToDevice);
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  cublasOperation_t t = CUBLAS_OP_T, nn = CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t);
  cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &nn, sizeof nn);
  const float* sa = sc;
  const float* sb = scales == 3 ? sc + 4 : sc + 1;  // 4-byte or 16-byte aligned
  auto set_scales = [&] {
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sa, sizeof sa);
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sb, sizeof sb);
  };
  if (scales == 1 || scales == 3) set_scales();
  cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, k, m, k);
  cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, k, n, k);
  cublasLtMatrixLayoutCreate(&lc, ct, m, n, m);
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulPreferenceCreate(&pref);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb);
  cublasLtMatmulHeuristicResult_t res[8];
  int found = 0;
  const cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 8, res, &found);
  if (scales == 2) set_scales();
  const float alpha = 1;
  int ok = 0;
  cublasStatus_t first = CUBLAS_STATUS_SUCCESS;
  for (int i = 0; i < found; ++i) {
    const cublasStatus_t s =
        cublasLtMatmul(h, desc, &alpha, A, la, B, lb, &beta, D, lc, D, lc, &res[i].algo, ws, wsb, nullptr);
    if (s == CUBLAS_STATUS_SUCCESS) ++ok;
    else if (first == CUBLAS_STATUS_SUCCESS) first = s;
  }
  float d0 = -1;
  cudaDeviceSynchronize();
  if (ct == CUDA_R_32F) cudaMemcpy(&d0, D, 4, cudaMemcpyDeviceToHost);
  std::printf("m %5d n %5d k %5d C/D %-4s beta %.0f scales %-6s: heuristic %s, %d algos, %d ran (first refusal %s), "
              "D[0] %g (want %d x runs)\n",
              m, n, k, ct == CUDA_R_32F ? "fp32" : "bf16", beta, scales == 0 ? "none" : scales == 1 ? "before" : scales == 2 ? "after" : "align16",
              name(hs), found, ok, name(first), d0, k);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(la), cublasLtMatrixLayoutDestroy(lb), cublasLtMatrixLayoutDestroy(lc);
  cublasLtMatmulDescDestroy(desc);
  cudaFree(A), cudaFree(B), cudaFree(D), cudaFree(sc);
}

}  // namespace

int main() {
  cublasLtHandle_t h;
  cublasLtCreate(&h);
  std::printf("cuBLASLt version %zu\n", cublasLtGetVersion());
  void* ws;
  const size_t wsb = size_t(32) << 20;
  cudaMalloc(&ws, wsb);
  for (int shape = 0; shape < 2; ++shape) {
    const int m = shape ? 4096 : 64, n = shape ? 16 : 64, k = shape ? 4096 : 64;
    for (cudaDataType_t ct : {CUDA_R_32F, CUDA_R_16BF})
      for (float beta : {0.f, 1.f})
        for (int scales : {0, 1, 2, 3}) attempt(h, ws, wsb, m, n, k, ct, beta, scales);
  }
  cudaFree(ws);
  cublasLtDestroy(h);
  return 0;
}
