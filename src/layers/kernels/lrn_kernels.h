// LRN (across channels) kernel launchers (CUDA; plain types). NCHW on the device.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace deftnn::kernels {

struct LrnDims {
  int n, c;
  int64_t hw;      // H * W
  int size;        // local_size
  float alpha_over_size, beta, k;
};

// One pass: each thread owns one (n, h, w) column and slides the window of
// squares over the channels.
// cnhw: x and y are channel-major (c * N + n) * HW + p instead of NCHW.
void lrn_forward(CUstream_st* stream, const LrnDims& d, const float* x, float* y, bool cnhw = false);
// Caffe's exact backward; `scale` is scratch of N*C*H*W floats.
void lrn_backward(CUstream_st* stream, const LrnDims& d, const float* x, const float* y, const float* dy, float* dx,
                  float* scale);

}  // namespace deftnn::kernels
