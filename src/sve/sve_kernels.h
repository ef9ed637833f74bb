// Private to sve/: the CUDA launchers behind correlation_matrix() and the
// input transforms. Pointers live on ctx's device; every launcher takes ctx
// for its stream, computes its own grid and checks the launch. Built from
// sve_kernels.cu with CUDA, and from sve_kernels_nocuda.cpp (which throws)
// without.
#pragma once

#include <cstdint>

#include "core/context.h"

namespace deftnn::sve::cuda {

// Z (M, K) = (W - column mean) / column norm, fp64 statistics; constant
// columns get Z = 0 and constant[k] = 1 (else 0).
void centre_columns(Context& ctx, const float* w, int64_t M, int64_t K, float* z, int32_t* constant);
// rho (K, K) in place: clamp to [-1, 1], diagonal 1, constant pairs 1.
void fix_correlation(Context& ctx, float* rho, int64_t K, const int32_t* constant);

void swap_rows(Context& ctx, float* x, int64_t n, int64_t ldx, const int32_t* pairs, int64_t num_pairs);
void copy_rows(Context& ctx, const float* x, int64_t n, int64_t ldx, const int32_t* kept, int64_t kept_k,
               float* y, int64_t ldy);
void swap_cols(Context& ctx, float* x, int64_t rows, int64_t ldx, const int32_t* pairs, int64_t num_pairs);
void copy_cols(Context& ctx, const float* x, int64_t rows, int64_t ldx, const int32_t* kept, int64_t kept_k,
               float* y, int64_t ldy);

}  // namespace deftnn::sve::cuda
