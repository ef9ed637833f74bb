// Batch normalisation kernel launchers (CUDA; plain types). x is (N, C, HW)
// on the device (HW = 1 for a 2-D input); per-channel vectors have C floats.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace deftnn::kernels {

struct BnDims {
  int n, c;
  int64_t hw;
};

// Batch mean and 1/sqrt(var + eps) per channel (one block per channel, fp64
// sums); updates the running statistics with momentum m.
void bn_train_stats(CUstream_st* stream, const BnDims& d, const float* x, float eps, float momentum, float* mean,
                    float* invstd, float* running_mean, float* running_var);
// mean = running_mean, invstd = 1/sqrt(running_var + eps).
void bn_inference_stats(CUstream_st* stream, int c, const float* running_mean, const float* running_var, float eps,
                        float* mean, float* invstd);
// y = gamma (x - mean) invstd + beta.
void bn_apply(CUstream_st* stream, const BnDims& d, const float* x, const float* mean, const float* invstd,
              const float* gamma, const float* beta, float* y);
// dgamma = sum dy xhat, dbeta = sum dy per channel; then, when dx is not null,
// dx = gamma invstd (dy - [train] (dbeta + xhat dgamma) / M).
void bn_backward(CUstream_st* stream, const BnDims& d, const float* x, const float* dy, const float* mean,
                 const float* invstd, const float* gamma, bool train, float* dgamma, float* dbeta, float* dx);

}  // namespace deftnn::kernels
