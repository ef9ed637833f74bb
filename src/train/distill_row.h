// One row of the distillation loss (distill.h), shared by the CPU path and
// the CUDA kernel so that both do the same arithmetic in the same order.
// Plain math only: included by distill.cu.
#pragma once

#include <cmath>
#include <cstdint>

#include "train/distill_kernel.h"

#if defined(__CUDACC__)
#define DEFTNN_DISTILL_HD __host__ __device__
#else
#define DEFTNN_DISTILL_HD
#endif

namespace deftnn::train::detail {

// z, t: one row of c student and teacher logits; y: the label (checked by
// the caller's flags only). inv_n scales the gradient (1 / rows). Writes the
// row's cross-entropy and KL (hard, soft), its flags and, when dz is not
// null, its gradient row.
template <class T>
DEFTNN_DISTILL_HD void distill_row(const T* z, int32_t y, const T* t, int64_t c, T temperature, T weight, T inv_n,
                                   T* dz, T* hard, T* soft, int32_t* flags) {
  using std::exp;
  using std::log;
  if (y < 0 || y >= c) {
    *flags = kDistillBadLabel;
    *hard = 0;
    *soft = 0;
    return;
  }
  const T inv_t = T(1) / temperature;
  int64_t arg = 0;
  T tmax = t[0];
  for (int64_t j = 1; j < c; ++j) {
    if (z[j] > z[arg]) arg = j;
    if (t[j] > tmax) tmax = t[j];
  }
  const T zmax = z[arg];
  // Log-sum-exp of z, z / T and t / T, each shifted by its maximum.
  T s1 = 0, st = 0, stt = 0;
  for (int64_t j = 0; j < c; ++j) {
    s1 += exp(z[j] - zmax);
    st += exp((z[j] - zmax) * inv_t);
    stt += exp((t[j] - tmax) * inv_t);
  }
  const T lse1 = log(s1), lset = log(st), lsett = log(stt);
  // KL(p || q) = sum p (log p - log q), p = softmax(t / T), q = softmax(z / T).
  T kl = 0;
  for (int64_t j = 0; j < c; ++j) {
    const T logp = (t[j] - tmax) * inv_t - lsett;
    const T logq = (z[j] - zmax) * inv_t - lset;
    const T p = exp(logp);
    kl += p * (logp - logq);
    if (dz) {
      const T soft_max = exp(z[j] - zmax - lse1);
      const T g_hard = soft_max - T(j == y ? 1 : 0);
      const T g_soft = exp(logq) - p;
      dz[j] = ((T(1) - weight) * g_hard + weight * temperature * g_soft) * inv_n;
    }
  }
  *hard = lse1 - (z[y] - zmax);
  *soft = kl;
  *flags = arg == y ? kDistillCorrect : 0;
}

}  // namespace deftnn::train::detail
