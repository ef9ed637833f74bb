// Element-wise sums for the add layer and for the Net's gradient accumulation
// (CUDA; plain types). All pointers on the device.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace deftnn::kernels {

// y[i] = a[i] + b[i]
void add2(CUstream_st* stream, const float* a, const float* b, float* y, int64_t n);
// y[i] += x[i]
void add_into(CUstream_st* stream, float* y, const float* x, int64_t n);

}  // namespace deftnn::kernels
