// Private to sve/: the CUDA launchers behind correlation_matrix(). Pointers
// live on ctx's device; every launcher takes ctx for its stream, computes its
// own grid and checks the launch. Built from correlation_kernels.cu with CUDA,
// and from correlation_kernels_nocuda.cpp (which throws) without.
#pragma once

#include <cstdint>

#include "core/context.h"

namespace deftnn::sve::cuda {

// Z (M, K) = (W - column mean) / column norm, fp64 statistics; constant
// columns get Z = 0 and constant[k] = 1 (else 0).
void centre_columns(Context& ctx, const float* w, int64_t M, int64_t K, float* z, int32_t* constant);
// rho (K, K) in place: clamp to [-1, 1], diagonal 1, constant pairs 1.
void fix_correlation(Context& ctx, float* rho, int64_t K, const int32_t* constant);

}  // namespace deftnn::sve::cuda
