// Consecutive threads own consecutive (h, w) of one image, so every channel
// step is a coalesced row of loads; the sliding window re-reads each x a few
// channels later (from L1/L2), so DRAM sees one read of x and one write of y.
#include "layers/kernels/launch.cuh"
#include "layers/kernels/lrn_kernels.h"

namespace deftnn::kernels {
namespace {

// Window of channel c: [c - pre, c + post], pre = (size-1)/2, post = size-1-pre.
// scale is written when not null; y when not null.
__global__ void lrn_scale_kernel(LrnDims d, const float* __restrict__ x, float* __restrict__ y,
                                 float* __restrict__ scale) {
  int64_t columns = int64_t(d.n) * d.hw;
  int pre = (d.size - 1) / 2, post = d.size - 1 - pre;
  DEFTNN_GRID_LOOP(i, columns) {
    int64_t n = i / d.hw, p = i % d.hw;
    const float* xc = x + n * d.c * d.hw + p;
    int64_t off = n * d.c * d.hw + p;
    float accum = 0.f;
    for (int j = 0; j < min(post, d.c); ++j) accum += xc[j * d.hw] * xc[j * d.hw];
    for (int c = 0; c < d.c; ++c) {
      if (c + post < d.c) {
        float v = xc[int64_t(c + post) * d.hw];
        accum += v * v;
      }
      if (c - pre - 1 >= 0) {
        float v = xc[int64_t(c - pre - 1) * d.hw];
        accum -= v * v;
      }
      float s = d.k + d.alpha_over_size * accum;
      if (scale) scale[off + c * d.hw] = s;
      if (y) y[off + c * d.hw] = xc[c * d.hw] * powf(s, -d.beta);
    }
  }
}

// Forward only: one thread per output element, summing its window directly
// (size reads, from L1/L2 after the first). The sliding-window kernel above
// walks every channel serially per pixel, which leaves too few threads when
// N*H*W is small (CaffeNet norm2 at batch 1: 169 threads for 256 channels,
// 0.12 ms); this one has N*C*H*W threads. 32-bit index arithmetic when the
// tensor fits (the 64-bit divisions cost more than the memory traffic), and
// s^-0.75 (Caffe's beta) as rsqrt(s) * sqrt(rsqrt(s)) instead of powf.
template <class Index, bool kCnhw, bool kBeta075, int kSize>
__global__ void lrn_forward_kernel(LrnDims d, const float* __restrict__ x, float* __restrict__ y) {
  const Index hw = Index(d.hw), total = Index(d.n) * d.c * hw;
  const Index cs = kCnhw ? Index(d.n) * hw : hw;  // channel stride
  const int pre = (d.size - 1) / 2, post = d.size - 1 - pre;
  for (Index i = Index(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += Index(blockDim.x) * gridDim.x) {
    const Index plane = i / hw;
    const int c = kCnhw ? int(plane / d.n) : int(plane % d.c);
    const float* xc = x + (i - Index(c) * cs);  // channel 0, same image and pixel
    float accum = 0.f;
    if (kSize > 0) {  // fixed window (CaffeNet's 5): unrolled, loads independent, same summation order
#pragma unroll
      for (int t = 0; t < kSize; ++t) {
        const int j = c - pre + t;
        const float v = (j >= 0 && j < d.c) ? __ldg(xc + Index(j) * cs) : 0.f;
        accum += v * v;
      }
    } else {
      const int lo = max(c - pre, 0), hi = min(c + post, d.c - 1);
      for (int j = lo; j <= hi; ++j) {
        const float v = __ldg(xc + Index(j) * cs);
        accum += v * v;
      }
    }
    const float s = d.k + d.alpha_over_size * accum;
    float f;
    if (kBeta075) {
      const float r = rsqrtf(s);
      f = r * sqrtf(r);
    } else {
      f = powf(s, -d.beta);
    }
    y[i] = __ldg(x + i) * f;
  }
}

template <class Index>
void launch_lrn_forward(CUstream_st* stream, const LrnDims& d, const float* x, float* y, bool cnhw, int64_t total) {
  const unsigned blocks = blocks_for(total);
  if (d.beta == 0.75f && d.size == 5) {  // CaffeNet's norm1/norm2
    if (cnhw)
      lrn_forward_kernel<Index, true, true, 5><<<blocks, kThreads, 0, stream>>>(d, x, y);
    else
      lrn_forward_kernel<Index, false, true, 5><<<blocks, kThreads, 0, stream>>>(d, x, y);
  } else if (d.beta == 0.75f) {
    if (cnhw)
      lrn_forward_kernel<Index, true, true, 0><<<blocks, kThreads, 0, stream>>>(d, x, y);
    else
      lrn_forward_kernel<Index, false, true, 0><<<blocks, kThreads, 0, stream>>>(d, x, y);
  } else {
    if (cnhw)
      lrn_forward_kernel<Index, true, false, 0><<<blocks, kThreads, 0, stream>>>(d, x, y);
    else
      lrn_forward_kernel<Index, false, false, 0><<<blocks, kThreads, 0, stream>>>(d, x, y);
  }
}

// dx_c = dy_c s_c^-beta - (2 alpha beta / n) x_c sum_{j: c in window(j)} dy_j y_j / s_j,
// where c in window(j) iff j in [c - post, c + pre].
__global__ void lrn_backward_kernel(LrnDims d, const float* __restrict__ x, const float* __restrict__ y,
                                    const float* __restrict__ dy, const float* __restrict__ scale,
                                    float* __restrict__ dx) {
  int64_t columns = int64_t(d.n) * d.hw;
  int pre = (d.size - 1) / 2, post = d.size - 1 - pre;
  float coeff = 2.f * d.alpha_over_size * d.beta;
  DEFTNN_GRID_LOOP(i, columns) {
    int64_t off = (i / d.hw) * d.c * d.hw + i % d.hw;
    auto ratio = [&](int j) {
      int64_t o = off + int64_t(j) * d.hw;
      return dy[o] * y[o] / scale[o];
    };
    float accum = 0.f;
    for (int j = 0; j < min(pre, d.c); ++j) accum += ratio(j);
    for (int c = 0; c < d.c; ++c) {
      if (c + pre < d.c) accum += ratio(c + pre);
      if (c - post - 1 >= 0) accum -= ratio(c - post - 1);
      int64_t o = off + int64_t(c) * d.hw;
      dx[o] = dy[o] * powf(scale[o], -d.beta) - coeff * x[o] * accum;
    }
  }
}

}  // namespace

void lrn_forward(CUstream_st* stream, const LrnDims& d, const float* x, float* y, bool cnhw) {
  int64_t columns = int64_t(d.n) * d.hw;
  if (columns == 0 || d.c == 0) return;
  const int64_t total = columns * d.c;
  if (total < (int64_t(1) << 31) - kThreads * int64_t(kMaxBlocks))
    launch_lrn_forward<int>(stream, d, x, y, cnhw, total);
  else
    launch_lrn_forward<int64_t>(stream, d, x, y, cnhw, total);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void lrn_backward(CUstream_st* stream, const LrnDims& d, const float* x, const float* y, const float* dy, float* dx,
                  float* scale) {
  int64_t columns = int64_t(d.n) * d.hw;
  if (columns == 0 || d.c == 0) return;
  lrn_scale_kernel<<<blocks_for(columns), kThreads, 0, stream>>>(d, x, nullptr, scale);
  DEFTNN_CUDA_CHECK_LAUNCH();
  lrn_backward_kernel<<<blocks_for(columns), kThreads, 0, stream>>>(d, x, y, dy, scale, dx);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::kernels
