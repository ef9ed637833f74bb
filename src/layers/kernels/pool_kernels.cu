// One thread per output element in forward, one per input element in
// backward (a gather over the windows that cover it: no atomics, and the
// result does not depend on scheduling). Consecutive threads walk W, so
// loads and stores are coalesced along rows.
#include <cfloat>

#include "layers/kernels/launch.cuh"
#include "layers/kernels/pool_kernels.h"

namespace deftnn::kernels {
namespace {

__global__ void max_pool_forward_kernel(PoolDims d, const float* __restrict__ x, float* __restrict__ y,
                                        int32_t* __restrict__ mask) {
  int64_t total = int64_t(d.n) * d.c * d.ph * d.pw;
  DEFTNN_GRID_LOOP(i, total) {
    int pw = int(i % d.pw);
    int ph = int((i / d.pw) % d.ph);
    int64_t nc = i / (int64_t(d.pw) * d.ph);
    int hs = ph * d.stride - d.pad, ws = pw * d.stride - d.pad;
    int he = min(hs + d.kernel, d.h), we = min(ws + d.kernel, d.w);
    hs = max(hs, 0), ws = max(ws, 0);
    const float* plane = x + nc * d.h * d.w;
    float best = -FLT_MAX;
    int arg = -1;
    for (int h = hs; h < he; ++h)
      for (int w = ws; w < we; ++w) {
        float v = plane[h * d.w + w];
        if (v > best) best = v, arg = h * d.w + w;
      }
    y[i] = best;
    if (mask) mask[i] = arg;
  }
}

// For input row h (in padded coordinates h + pad), the windows covering it are
// [first, last) with first = h+pad < k ? 0 : (h+pad-k)/s + 1, last = min((h+pad)/s + 1, out).
__device__ inline void covering(int hp, int kernel, int stride, int out, int& first, int& last) {
  first = hp < kernel ? 0 : (hp - kernel) / stride + 1;
  last = min(hp / stride + 1, out);
}

__global__ void max_pool_backward_kernel(PoolDims d, const float* __restrict__ dy, const int32_t* __restrict__ mask,
                                         float* __restrict__ dx) {
  int64_t total = int64_t(d.n) * d.c * d.h * d.w;
  DEFTNN_GRID_LOOP(i, total) {
    int w = int(i % d.w);
    int h = int((i / d.w) % d.h);
    int64_t nc = i / (int64_t(d.w) * d.h);
    int ph0, ph1, pw0, pw1;
    covering(h + d.pad, d.kernel, d.stride, d.ph, ph0, ph1);
    covering(w + d.pad, d.kernel, d.stride, d.pw, pw0, pw1);
    int self = h * d.w + w;
    const float* g = dy + nc * d.ph * d.pw;
    const int32_t* m = mask + nc * d.ph * d.pw;
    float sum = 0.f;
    for (int ph = ph0; ph < ph1; ++ph)
      for (int pw = pw0; pw < pw1; ++pw)
        if (m[ph * d.pw + pw] == self) sum += g[ph * d.pw + pw];
    dx[i] = sum;
  }
}

__global__ void avg_pool_backward_kernel(PoolDims d, const float* __restrict__ dy, float* __restrict__ dx) {
  int64_t total = int64_t(d.n) * d.c * d.h * d.w;
  DEFTNN_GRID_LOOP(i, total) {
    int w = int(i % d.w);
    int h = int((i / d.w) % d.h);
    int64_t nc = i / (int64_t(d.w) * d.h);
    int ph0, ph1, pw0, pw1;
    covering(h + d.pad, d.kernel, d.stride, d.ph, ph0, ph1);
    covering(w + d.pad, d.kernel, d.stride, d.pw, pw0, pw1);
    const float* g = dy + nc * d.ph * d.pw;
    float sum = 0.f;
    for (int ph = ph0; ph < ph1; ++ph) {
      int hs = ph * d.stride - d.pad, he = min(hs + d.kernel, d.h + d.pad);
      for (int pw = pw0; pw < pw1; ++pw) {
        int ws = pw * d.stride - d.pad, we = min(ws + d.kernel, d.w + d.pad);
        sum += g[ph * d.pw + pw] / float((he - hs) * (we - ws));
      }
    }
    dx[i] = sum;
  }
}

// One thread per output element, in the output's memory order; 32-bit index
// arithmetic (Index = int) when the tensors fit, which halves the cost of
// the divisions that decode the element.
template <class Index, bool kMax, bool kAct, int kK>
__global__ void pool_inference_kernel(PoolDims d, PoolInferIO io, const float* __restrict__ x, float* __restrict__ y) {
  const Index per_plane = Index(d.ph) * d.pw, total = per_plane * d.n * d.c;
  for (Index i = Index(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += Index(blockDim.x) * gridDim.x) {
    const Index plane = i / per_plane, o = i - plane * per_plane;
    const int ph = int(o / d.pw), pw = int(o - Index(ph) * d.pw);
    int n, c;
    if (io.out_cnhw)
      c = int(plane / d.n), n = int(plane - Index(c) * d.n);
    else
      n = int(plane / d.c), c = int(plane - Index(n) * d.c);
    const Index in_plane = io.in_cnhw ? Index(c) * d.n + n : Index(n) * d.c + c;
    const float* p = x + in_plane * (Index(d.h) * d.w);
    int hs = ph * d.stride - d.pad, ws = pw * d.stride - d.pad;
    float v;
    if (kMax && kK > 0) {
      // Fixed window (CaffeNet's 3x3): unrolled, every load independent.
      v = -FLT_MAX;
#pragma unroll
      for (int dh = 0; dh < kK; ++dh)
#pragma unroll
        for (int dw = 0; dw < kK; ++dw) {
          const int h = hs + dh, w = ws + dw;
          if (unsigned(h) < unsigned(d.h) && unsigned(w) < unsigned(d.w)) v = fmaxf(v, __ldg(p + h * d.w + w));
        }
      if (kAct) {
        v += io.bias ? __ldg(io.bias + c) : 0.f;
        if (io.relu && !(v > 0.f)) v *= io.slope;
      }
    } else if (kMax) {
      const int he = min(hs + d.kernel, d.h), we = min(ws + d.kernel, d.w);
      hs = max(hs, 0), ws = max(ws, 0);
      v = -FLT_MAX;
      for (int h = hs; h < he; ++h)
        for (int w = ws; w < we; ++w) v = fmaxf(v, __ldg(p + h * d.w + w));
      if (kAct) {
        v += io.bias ? __ldg(io.bias + c) : 0.f;
        if (io.relu && !(v > 0.f)) v *= io.slope;
      }
    } else {
      int he = min(hs + d.kernel, d.h + d.pad), we = min(ws + d.kernel, d.w + d.pad);
      const int pool_size = (he - hs) * (we - ws);
      hs = max(hs, 0), ws = max(ws, 0), he = min(he, d.h), we = min(we, d.w);
      float sum = 0.f;
      for (int h = hs; h < he; ++h)
        for (int w = ws; w < we; ++w) sum += __ldg(p + h * d.w + w);
      v = sum / float(pool_size);
    }
    y[i] = v;
  }
}

template <class Index>
void launch_pool_inference(CUstream_st* stream, const PoolDims& d, const PoolInferIO& io, const float* x, float* y,
                           int64_t total) {
  const bool act = io.bias || io.relu;
  const unsigned blocks = blocks_for(total);
  if (!io.max)
    pool_inference_kernel<Index, false, false, 0><<<blocks, kThreads, 0, stream>>>(d, io, x, y);
  else if (d.kernel == 3)
    act ? pool_inference_kernel<Index, true, true, 3><<<blocks, kThreads, 0, stream>>>(d, io, x, y)
        : pool_inference_kernel<Index, true, false, 3><<<blocks, kThreads, 0, stream>>>(d, io, x, y);
  else
    act ? pool_inference_kernel<Index, true, true, 0><<<blocks, kThreads, 0, stream>>>(d, io, x, y)
        : pool_inference_kernel<Index, true, false, 0><<<blocks, kThreads, 0, stream>>>(d, io, x, y);
}

}  // namespace

void pool_forward_inference(CUstream_st* stream, const PoolDims& d, const PoolInferIO& io, const float* x, float* y) {
  const int64_t total = int64_t(d.n) * d.c * d.ph * d.pw;
  if (total == 0) return;
  const int64_t in_total = int64_t(d.n) * d.c * d.h * d.w;
  // (fmaxf skips a NaN input as the training kernel's `>` does.)
  if (std::max(total, in_total) < (int64_t(1) << 31) - kThreads * int64_t(kMaxBlocks))
    launch_pool_inference<int>(stream, d, io, x, y, total);
  else
    launch_pool_inference<int64_t>(stream, d, io, x, y, total);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void max_pool_forward(CUstream_st* stream, const PoolDims& d, const float* x, float* y, int32_t* mask) {
  int64_t total = int64_t(d.n) * d.c * d.ph * d.pw;
  if (total == 0) return;
  max_pool_forward_kernel<<<blocks_for(total), kThreads, 0, stream>>>(d, x, y, mask);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void max_pool_backward(CUstream_st* stream, const PoolDims& d, const float* dy, const int32_t* mask, float* dx) {
  int64_t total = int64_t(d.n) * d.c * d.h * d.w;
  if (total == 0) return;
  max_pool_backward_kernel<<<blocks_for(total), kThreads, 0, stream>>>(d, dy, mask, dx);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void avg_pool_backward(CUstream_st* stream, const PoolDims& d, const float* dy, float* dx) {
  int64_t total = int64_t(d.n) * d.c * d.h * d.w;
  if (total == 0) return;
  avg_pool_backward_kernel<<<blocks_for(total), kThreads, 0, stream>>>(d, dy, dx);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::kernels
