// The epilogue of the 16-bit cuDNN convolution (conv_cudnn.cpp): its bf16 or
// fp16 output widened to the engine's fp32 activations, with the bias and an
// optional (leaky) ReLU in the same pass. Plain types; all pointers on the device.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace deftnn::kernels {

// y (N, C, HW) fp32 = act(float(y16[i]) + bias[c]); y16 (N, C, HW) in bf16
// (bf16 true) or IEEE half; bias may be null; act: relu (x > 0 ? x : slope x) or identity.
void widen_channel_bias(CUstream_st* stream, const uint16_t* y16, bool bf16, float* y, int64_t N, int64_t C,
                        int64_t HW, const float* bias, bool relu, float slope);

}  // namespace deftnn::kernels
