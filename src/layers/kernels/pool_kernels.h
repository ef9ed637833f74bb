// Pooling kernel launchers (CUDA; plain types). Tensors are NCHW (inference:
// NCHW or CNHW, PoolInferIO), on the device.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace deftnn::kernels {

struct PoolDims {
  int n, c, h, w;      // input
  int ph, pw;          // output
  int kernel, stride, pad;
};

// Training forward: y (N, C, ph, pw) and mask (same shape, argmax as
// h * w_in + w; written when not null). Inference (no mask, average pooling
// too) runs pool_forward_inference below.
void max_pool_forward(CUstream_st* stream, const PoolDims& d, const float* x, float* y, int32_t* mask);
// dx (N, C, h, w) = sum of dy over the windows whose argmax is that element (gather, no atomics).
void max_pool_backward(CUstream_st* stream, const PoolDims& d, const float* dy, const int32_t* mask, float* dx);

// Inference forward with layouts and a producer's pending epilogue. Plane
// (n, c) is at plane index n * C + c in NCHW, c * N + n in CNHW, for input and
// output independently (a pool converts CNHW back to NCHW for free). Max
// only: y = act(max(window) + bias[c]), which equals the max of act(x +
// bias[c]) because act is non-decreasing (relu slope >= 0).
struct PoolInferIO {
  bool max = true;
  bool in_cnhw = false, out_cnhw = false;
  const float* bias = nullptr;  // pending bias (C), max only
  bool relu = false;            // pending ReLU, max only
  float slope = 0.f;
};
void pool_forward_inference(CUstream_st* stream, const PoolDims& d, const PoolInferIO& io, const float* x, float* y);
void avg_pool_backward(CUstream_st* stream, const PoolDims& d, const float* dy, float* dx);

}  // namespace deftnn::kernels
