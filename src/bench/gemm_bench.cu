// CUDA side of the GEMM benchmark: the FFMA-peak probe,
// bf16 conversion for the cuBLAS BF16 context row.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/gemm_bench.h"
#include "core/cuda_check.h"


namespace deftnn {

// 8 independent FFMA chains per thread, ITERS rounds: 16 FLOP per round each.
template <int ITERS>
__global__ void ffma_probe(float* out, float a, float b) {
  float x[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) x[i] = threadIdx.x * 1e-3f + i;
#pragma unroll 16
  for (int it = 0; it < ITERS; ++it)
#pragma unroll
    for (int i = 0; i < 8; ++i) x[i] = fmaf(x[i], a, b);
  float s = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) s += x[i];
  if (s == 12345.f) out[0] = s;  // keeps the chains alive
}

double measure_ffma_peak_tflops() {
  int dev = 0, sms = 0;
  DEFTNN_CUDA_CHECK(cudaGetDevice(&dev));
  DEFTNN_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  float* out;
  DEFTNN_CUDA_CHECK(cudaMalloc(&out, 4));
  constexpr int ITERS = 1 << 14;
  const int blocks = sms * 8, threads = 256;
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0), cudaEventCreate(&e1);
  for (int w = 0; w < 3; ++w) ffma_probe<ITERS><<<blocks, threads>>>(out, 0.999f, 1e-3f);
  std::vector<float> ms;
  for (int r = 0; r < 9; ++r) {
    cudaEventRecord(e0);
    ffma_probe<ITERS><<<blocks, threads>>>(out, 0.999f, 1e-3f);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float t;
    cudaEventElapsedTime(&t, e0, e1);
    ms.push_back(t);
  }
  DEFTNN_CUDA_CHECK_LAUNCH();
  std::sort(ms.begin(), ms.end());
  cudaEventDestroy(e0), cudaEventDestroy(e1);
  cudaFree(out);
  double flop = double(blocks) * threads * ITERS * 8 * 2;
  return flop / (ms[ms.size() / 2] * 1e-3) / 1e12;
}

__global__ void f32_to_bf16_kernel(const float* in, __nv_bfloat16* out, size_t n) {
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __float2bfloat16_rn(in[i]);
}
void f32_to_bf16_device(const float* in, void* out, size_t n, void* stream) {
  if (!n) return;
  f32_to_bf16_kernel<<<unsigned((n + 255) / 256), 256, 0, cudaStream_t(stream)>>>(in, static_cast<__nv_bfloat16*>(out), n);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn
