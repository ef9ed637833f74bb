#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "layers/kernels/launch.cuh"
#include "layers/kernels/widen_kernels.h"

namespace deftnn::kernels {
namespace {

template <bool kBf16>
__global__ void widen_channel_bias_kernel(const uint16_t* __restrict__ y16, float* __restrict__ y, int64_t n,
                                          int64_t C, int64_t HW, const float* __restrict__ bias, bool relu,
                                          float slope) {
  DEFTNN_GRID_LOOP(i, n) {
    const uint16_t h = y16[i];
    float v = kBf16 ? __uint_as_float(uint32_t(h) << 16) : __half2float(__ushort_as_half(h));
    if (bias) v += bias[(i / HW) % C];
    y[i] = relu && !(v > 0.f) ? slope * v : v;
  }
}

}  // namespace

void widen_channel_bias(CUstream_st* stream, const uint16_t* y16, bool bf16, float* y, int64_t N, int64_t C,
                        int64_t HW, const float* bias, bool relu, float slope) {
  const int64_t n = N * C * HW;
  if (n == 0) return;
  if (bf16)
    widen_channel_bias_kernel<true><<<blocks_for(n), kThreads, 0, stream>>>(y16, y, n, C, HW, bias, relu, slope);
  else
    widen_channel_bias_kernel<false><<<blocks_for(n), kThreads, 0, stream>>>(y16, y, n, C, HW, bias, relu, slope);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::kernels
