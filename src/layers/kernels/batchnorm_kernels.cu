// Per-channel reductions: one block per channel; threads stride over the
// channel's N * HW elements (consecutive threads on consecutive hw), fp64
// partial sums, a shared-memory tree. Element-wise parts: one thread per element.
#include "layers/kernels/batchnorm_kernels.h"
#include "layers/kernels/launch.cuh"

namespace deftnn::kernels {
namespace {

constexpr int kReduceThreads = 256;  // threads of a per-channel reduction block (a power of two)

// Sum of v over the block; every thread gets the result.
__device__ double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kReduceThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  double r = shared[0];
  __syncthreads();
  return r;
}

__device__ inline int64_t channel_offset(const BnDims& d, int c, int64_t idx) {
  return (idx / d.hw * d.c + c) * d.hw + idx % d.hw;
}

__global__ void bn_train_stats_kernel(BnDims d, const float* __restrict__ x, float eps, float momentum,
                                      float* __restrict__ mean, float* __restrict__ invstd,
                                      float* __restrict__ running_mean, float* __restrict__ running_var) {
  __shared__ double shared[kReduceThreads];
  int c = blockIdx.x;
  int64_t m = int64_t(d.n) * d.hw;
  double s = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) s += x[channel_offset(d, c, i)];
  double mu = block_sum(s, shared) / double(m);
  double q = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    double v = x[channel_offset(d, c, i)] - mu;
    q += v * v;
  }
  double var = block_sum(q, shared) / double(m);
  if (threadIdx.x == 0) {
    mean[c] = float(mu);
    invstd[c] = float(1.0 / sqrt(var + double(eps)));
    double unbiased = m > 1 ? var * double(m) / double(m - 1) : var;
    running_mean[c] = float(momentum * double(running_mean[c]) + (1.0 - momentum) * mu);
    running_var[c] = float(momentum * double(running_var[c]) + (1.0 - momentum) * unbiased);
  }
}

__global__ void bn_inference_stats_kernel(int c, const float* __restrict__ running_mean,
                                          const float* __restrict__ running_var, float eps, float* __restrict__ mean,
                                          float* __restrict__ invstd) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < c) {
    mean[i] = running_mean[i];
    invstd[i] = float(1.0 / sqrt(double(running_var[i]) + double(eps)));
  }
}

__global__ void bn_apply_kernel(BnDims d, const float* __restrict__ x, const float* __restrict__ mean,
                                const float* __restrict__ invstd, const float* __restrict__ gamma,
                                const float* __restrict__ beta, float* __restrict__ y) {
  int64_t total = int64_t(d.n) * d.c * d.hw;
  DEFTNN_GRID_LOOP(i, total) {
    int c = int(i / d.hw % d.c);
    y[i] = (x[i] - mean[c]) * invstd[c] * gamma[c] + beta[c];
  }
}

__global__ void bn_backward_reduce_kernel(BnDims d, const float* __restrict__ x, const float* __restrict__ dy,
                                          const float* __restrict__ mean, const float* __restrict__ invstd,
                                          float* __restrict__ dgamma, float* __restrict__ dbeta) {
  __shared__ double shared[kReduceThreads];
  int c = blockIdx.x;
  int64_t m = int64_t(d.n) * d.hw;
  double sg = 0, sgx = 0;
  float mu = mean[c], is = invstd[c];
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    int64_t o = channel_offset(d, c, i);
    sg += dy[o];
    sgx += double(dy[o]) * double((x[o] - mu) * is);
  }
  double g = block_sum(sg, shared), gx = block_sum(sgx, shared);
  if (threadIdx.x == 0) dbeta[c] = float(g), dgamma[c] = float(gx);
}

__global__ void bn_backward_dx_kernel(BnDims d, const float* __restrict__ x, const float* __restrict__ dy,
                                      const float* __restrict__ mean, const float* __restrict__ invstd,
                                      const float* __restrict__ gamma, const float* __restrict__ dgamma,
                                      const float* __restrict__ dbeta, bool train, float* __restrict__ dx) {
  int64_t total = int64_t(d.n) * d.c * d.hw;
  float inv_m = 1.f / float(int64_t(d.n) * d.hw);
  DEFTNN_GRID_LOOP(i, total) {
    int c = int(i / d.hw % d.c);
    float g = dy[i];
    if (train) g -= (dbeta[c] + (x[i] - mean[c]) * invstd[c] * dgamma[c]) * inv_m;
    dx[i] = gamma[c] * invstd[c] * g;
  }
}

}  // namespace

void bn_train_stats(CUstream_st* stream, const BnDims& d, const float* x, float eps, float momentum, float* mean,
                    float* invstd, float* running_mean, float* running_var) {
  if (d.c == 0) return;
  bn_train_stats_kernel<<<d.c, kReduceThreads, 0, stream>>>(d, x, eps, momentum, mean, invstd, running_mean,
                                                            running_var);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void bn_inference_stats(CUstream_st* stream, int c, const float* running_mean, const float* running_var, float eps,
                        float* mean, float* invstd) {
  if (c == 0) return;
  bn_inference_stats_kernel<<<blocks_for(c), kThreads, 0, stream>>>(c, running_mean, running_var, eps, mean, invstd);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void bn_apply(CUstream_st* stream, const BnDims& d, const float* x, const float* mean, const float* invstd,
              const float* gamma, const float* beta, float* y) {
  int64_t total = int64_t(d.n) * d.c * d.hw;
  if (total == 0) return;
  bn_apply_kernel<<<blocks_for(total), kThreads, 0, stream>>>(d, x, mean, invstd, gamma, beta, y);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void bn_backward(CUstream_st* stream, const BnDims& d, const float* x, const float* dy, const float* mean,
                 const float* invstd, const float* gamma, bool train, float* dgamma, float* dbeta, float* dx) {
  if (d.c == 0) return;
  bn_backward_reduce_kernel<<<d.c, kReduceThreads, 0, stream>>>(d, x, dy, mean, invstd, dgamma, dbeta);
  DEFTNN_CUDA_CHECK_LAUNCH();
  int64_t total = int64_t(d.n) * d.c * d.hw;
  if (!dx || total == 0) return;
  bn_backward_dx_kernel<<<blocks_for(total), kThreads, 0, stream>>>(d, x, dy, mean, invstd, gamma, dgamma, dbeta,
                                                                    train, dx);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::kernels
