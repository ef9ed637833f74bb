// ReLU and clip kernel launchers (CUDA; plain types). All pointers on the device.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace deftnn::kernels {

// y[i] = x[i] > 0 ? x[i] : slope * x[i]
void relu_forward(CUstream_st* stream, const float* x, float* y, int64_t n, float slope);
// dx[i] = x[i] > 0 ? dy[i] : slope * dy[i]
void relu_backward(CUstream_st* stream, const float* x, const float* dy, float* dx, int64_t n, float slope);

// y[i] = min(max(x[i], lo), hi)
void clip_forward(CUstream_st* stream, const float* x, float* y, int64_t n, float lo, float hi);
// dx[i] = lo < x[i] < hi ? dy[i] : 0
void clip_backward(CUstream_st* stream, const float* x, const float* dy, float* dx, int64_t n, float lo, float hi);

}  // namespace deftnn::kernels
