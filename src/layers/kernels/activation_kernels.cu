#include "layers/kernels/activation_kernels.h"
#include "layers/kernels/launch.cuh"

namespace deftnn::kernels {
namespace {

__global__ void activation_forward_kernel(ActivationKind k, const float* x, float* y, int64_t n, float alpha,
                                          float beta) {
  DEFTNN_GRID_LOOP(i, n) { y[i] = activation_value<float>(k, x[i], alpha, beta); }
}

__global__ void activation_backward_kernel(ActivationKind k, const float* __restrict__ x,
                                           const float* __restrict__ dy, float* __restrict__ dx, int64_t n,
                                           float alpha, float beta) {
  DEFTNN_GRID_LOOP(i, n) { dx[i] = activation_slope<float>(k, x[i], alpha, beta) * dy[i]; }
}

}  // namespace

void activation_forward(CUstream_st* stream, ActivationKind k, const float* x, float* y, int64_t n, float alpha,
                        float beta) {
  if (n == 0) return;
  activation_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(k, x, y, n, alpha, beta);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void activation_backward(CUstream_st* stream, ActivationKind k, const float* x, const float* dy, float* dx, int64_t n,
                         float alpha, float beta) {
  if (n == 0) return;
  activation_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(k, x, dy, dx, n, alpha, beta);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::kernels
