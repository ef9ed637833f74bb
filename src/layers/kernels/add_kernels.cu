#include "layers/kernels/add_kernels.h"
#include "layers/kernels/launch.cuh"

namespace deftnn::kernels {
namespace {

__global__ void add2_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y,
                            int64_t n) {
  DEFTNN_GRID_LOOP(i, n) { y[i] = a[i] + b[i]; }
}

__global__ void add_into_kernel(float* __restrict__ y, const float* __restrict__ x, int64_t n) {
  DEFTNN_GRID_LOOP(i, n) { y[i] += x[i]; }
}

}  // namespace

void add2(CUstream_st* stream, const float* a, const float* b, float* y, int64_t n) {
  if (n == 0) return;
  add2_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, b, y, n);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void add_into(CUstream_st* stream, float* y, const float* x, int64_t n) {
  if (n == 0) return;
  add_into_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, x, n);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::kernels
