// Dropout kernel launcher (CUDA; plain types). Pointers on the device.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace deftnn::kernels {

// out[i] = dropout_keep(key, i, threshold) ? in[i] * scale : 0 (forward and backward alike).
void dropout_apply(CUstream_st* stream, const float* in, float* out, int64_t n, uint64_t key, uint64_t threshold,
                   float scale);

}  // namespace deftnn::kernels
