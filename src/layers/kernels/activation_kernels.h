// Element-wise activation launchers (CUDA; plain types) and the one scalar
// definition of each activation, shared by the CPU loops and the kernels.
#pragma once

#include <cmath>
#include <cstdint>

struct CUstream_st;

#if defined(__CUDACC__)
#define DEFTNN_HD __host__ __device__
#else
#define DEFTNN_HD
#endif

namespace deftnn::kernels {

enum class ActivationKind : int { Sigmoid, Tanh, HardSigmoid, HardSwish };

// y of one element (T float on the GPU, float or double on the CPU).
template <class T>
DEFTNN_HD inline T activation_value(ActivationKind k, T x, T alpha, T beta) {
  const T zero = 0, one = 1;
  switch (k) {
    case ActivationKind::Sigmoid: return one / (one + std::exp(-x));
    case ActivationKind::Tanh: return std::tanh(x);
    case ActivationKind::HardSigmoid: return std::fmax(zero, std::fmin(one, alpha * x + beta));
    default: return x * std::fmax(zero, std::fmin(one, x / T(6) + T(0.5)));
  }
}

// dy/dx of one element.
template <class T>
DEFTNN_HD inline T activation_slope(ActivationKind k, T x, T alpha, T beta) {
  const T zero = 0, one = 1;
  switch (k) {
    case ActivationKind::Sigmoid: {
      const T y = one / (one + std::exp(-x));
      return y * (one - y);
    }
    case ActivationKind::Tanh: {
      const T y = std::tanh(x);
      return one - y * y;
    }
    case ActivationKind::HardSigmoid: {
      const T v = alpha * x + beta;
      return v > zero && v < one ? alpha : zero;
    }
    default: return x < T(-3) ? zero : x > T(3) ? one : x / T(3) + T(0.5);
  }
}

// y[i] = f(x[i]); all pointers on the device.
void activation_forward(CUstream_st* stream, ActivationKind k, const float* x, float* y, int64_t n, float alpha,
                        float beta);
// dx[i] = f'(x[i]) dy[i]
void activation_backward(CUstream_st* stream, ActivationKind k, const float* x, const float* dy, float* dx, int64_t n,
                         float alpha, float beta);

}  // namespace deftnn::kernels
