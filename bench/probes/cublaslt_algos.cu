// Probe: how much faster than cublasGemmEx's default choice is the best of
// cublasLt's fp32 heuristic candidates (CUBLAS_COMPUTE_32F, no TF32) on the
// CaffeNet batch-128 GEMM shapes? Decides whether the engine's cuBLAS baseline
// should autotune. Build and run on the GPU machine:
//   nvcc -O2 -arch=sm_90 bench/probes/cublaslt_algos.cu -lcublasLt -lcublas -o /tmp/probe && /tmp/probe
// Prints, per shape: default cublasGemmEx time, then each candidate's time.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#define CK(x) do { auto e_ = (x); if (int(e_) != 0) { std::printf("error %d at %s:%d\n", int(e_), __FILE__, __LINE__); std::exit(1); } } while (0)

template <class F>
float time_ms(F f, int reps = 20) {
  cudaEvent_t a, b;
  cudaEventCreate(&a), cudaEventCreate(&b);
  for (int i = 0; i < 3; ++i) f();
  std::vector<float> t;
  for (int r = 0; r < reps; ++r) {
    cudaEventRecord(a);
    f();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(ms);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main() {
  // Row-major C (M, N) = W (M, K) X (K, N), called column-major as C^T = X^T W^T: m = N, n = M.
  struct Shape { const char* name; int M, N, K; };
  std::vector<Shape> shapes = {{"conv1", 96, 387200, 363},   {"conv2/g", 128, 93312, 1200}, {"conv3", 384, 21632, 2304},
                               {"conv4/g", 192, 21632, 1728}, {"conv5/g", 128, 21632, 1728}, {"conv2/g sve", 128, 93312, 600},
                               {"conv4/g sve", 192, 21632, 864}, {"conv5/g sve", 128, 21632, 864}};
  cublasHandle_t h;
  cublasLtHandle_t lt;
  CK(cublasCreate(&h));
  CK(cublasLtCreate(&lt));
  size_t ws_bytes = 64 << 20;
  void* ws;
  CK(cudaMalloc(&ws, ws_bytes));
  for (const auto& s : shapes) {
    float *A, *B, *C;
    CK(cudaMalloc(&A, size_t(s.M) * s.K * 4));
    CK(cudaMalloc(&B, size_t(s.K) * s.N * 4));
    CK(cudaMalloc(&C, size_t(s.M) * s.N * 4));
    cudaMemset(A, 0x3c, size_t(s.M) * s.K * 4), cudaMemset(B, 0x3c, size_t(s.K) * s.N * 4);
    const float alpha = 1, beta = 0;
    const int m = s.N, n = s.M, k = s.K;
    float def = time_ms([&] {
      cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, B, CUDA_R_32F, m, A, CUDA_R_32F, k, &beta, C, CUDA_R_32F, m,
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    });
    double gf = 2.0 * s.M * s.N * s.K / 1e9;
    std::printf("%-12s M=%d N=%d K=%d  cublasGemmEx default %.3f ms (%.1f TFLOP/s)\n", s.name, s.M, s.N, s.K, def, gf / def);
    cublasLtMatmulDesc_t op;
    CK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasLtMatrixLayout_t lb, la, lc;
    CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, m, k, m));
    CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, k, n, k));
    CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, m, n, m));
    cublasLtMatmulPreference_t pref;
    CK(cublasLtMatmulPreferenceCreate(&pref));
    CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof(ws_bytes)));
    cublasLtMatmulHeuristicResult_t res[32];
    int found = 0;
    CK(cublasLtMatmulAlgoGetHeuristic(lt, op, lb, la, lc, lc, pref, 32, res, &found));
    float best = 1e9;
    for (int i = 0; i < found; ++i) {
      if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
      float t = time_ms([&] {
        cublasLtMatmul(lt, op, &alpha, B, lb, A, la, &beta, C, lc, C, lc, &res[i].algo, ws, ws_bytes, 0);
      });
      best = std::min(best, t);
      std::printf("    candidate %2d: %.3f ms (%.1f TFLOP/s) ws %zu\n", i, t, gf / t, res[i].workspaceSize);
    }
    std::printf("    best of %d: %.3f ms = %.2fx the default\n", found, best, def / best);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(lb), cublasLtMatrixLayoutDestroy(la), cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
    cudaFree(A), cudaFree(B), cudaFree(C);
  }
  return 0;
}
