// Private to synapse/: the CUDA launchers behind the input transforms
// (input_transform.h). Pointers live on ctx's device; every launcher takes ctx
// for its stream, computes its own grid and checks the launch. Built from
// transform_kernels.cu with CUDA, and from transform_kernels_nocuda.cpp (which
// throws) without.
#pragma once

#include <cstdint>

#include "core/context.h"

namespace deftnn::sve::cuda {

void swap_rows(Context& ctx, float* x, int64_t n, int64_t ldx, const int32_t* pairs, int64_t num_pairs);
void copy_rows(Context& ctx, const float* x, int64_t n, int64_t ldx, const int32_t* kept, int64_t kept_k,
               float* y, int64_t ldy);
void swap_cols(Context& ctx, float* x, int64_t rows, int64_t ldx, const int32_t* pairs, int64_t num_pairs);
void copy_cols(Context& ctx, const float* x, int64_t rows, int64_t ldx, const int32_t* kept, int64_t kept_k,
               float* y, int64_t ldy);

}  // namespace deftnn::sve::cuda
