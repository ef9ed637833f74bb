#include "layers/kernels/launch.cuh"
#include "layers/kernels/relu_kernels.h"

namespace deftnn::kernels {
namespace {

__global__ void relu_forward_kernel(const float* x, float* y, int64_t n, float slope) {
  DEFTNN_GRID_LOOP(i, n) {
    float v = x[i];
    y[i] = v > 0.f ? v : slope * v;
  }
}

__global__ void relu_backward_kernel(const float* __restrict__ x, const float* __restrict__ dy, float* __restrict__ dx,
                                     int64_t n, float slope) {
  DEFTNN_GRID_LOOP(i, n) { dx[i] = x[i] > 0.f ? dy[i] : slope * dy[i]; }
}

__global__ void clip_forward_kernel(const float* x, float* y, int64_t n, float lo, float hi) {
  DEFTNN_GRID_LOOP(i, n) { y[i] = fminf(fmaxf(x[i], lo), hi); }
}

__global__ void clip_backward_kernel(const float* __restrict__ x, const float* __restrict__ dy, float* __restrict__ dx,
                                     int64_t n, float lo, float hi) {
  DEFTNN_GRID_LOOP(i, n) { dx[i] = x[i] > lo && x[i] < hi ? dy[i] : 0.f; }
}

}  // namespace

void clip_forward(CUstream_st* stream, const float* x, float* y, int64_t n, float lo, float hi) {
  if (n == 0) return;
  clip_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, n, lo, hi);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void clip_backward(CUstream_st* stream, const float* x, const float* dy, float* dx, int64_t n, float lo, float hi) {
  if (n == 0) return;
  clip_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, dy, dx, n, lo, hi);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void relu_forward(CUstream_st* stream, const float* x, float* y, int64_t n, float slope) {
  if (n == 0) return;
  relu_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, n, slope);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void relu_backward(CUstream_st* stream, const float* x, const float* dy, float* dx, int64_t n, float slope) {
  if (n == 0) return;
  relu_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, dy, dx, n, slope);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::kernels
