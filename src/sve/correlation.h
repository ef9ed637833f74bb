// Pearson correlation of a layer's synapse vectors (section 4.1.2, equation 6).
//
// A layer's synapse vectors are the K columns of its weight matrix W (M, K):
// column k holds the M weights that multiply input row k (for conv, K =
// C_in/groups * kh * kw; for a grouped conv, W is the whole (C_out, K) weight,
// so a column spans the rows of every group: one input position k is kept or
// dropped for all groups at once, and the layer's GEMMs stay the same shape).
//
// rho (K, K) = Z^T Z, where Z (M, K) holds W's columns centred and scaled to
// unit norm. The product goes through the GEMM front door in fp32 on ctx's
// device (OpenBLAS on the CPU, cuBLAS on the GPU, which is what large K needs);
// the means and norms are taken in fp64. So rho carries fp32 rounding error of
// about eps * sqrt(M): two equal columns may read 0.9999999 instead of 1. The
// search allows for it (SearchOptions::tolerance).
//
// A constant column (all M weights equal, zero variance) has no defined
// correlation. We define it as 1 with every other constant column (a constant
// column represents another one exactly up to scale) and 0 with every
// non-constant column. The diagonal is exactly 1, every entry lies in [-1, 1]
// and rho is exactly symmetric (the upper triangle is copied down), so the
// search does not depend on the order of summation inside the GEMM.
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace deftnn::sve {

// w: (M, K) F32 on any device (for conv, the weight (C_out, C_in/g, kh, kw)
// viewed as (C_out, K)). Returns rho (K, K) F32, row-major and symmetric, on
// ctx's device.
Tensor correlation_matrix(Context& ctx, const Tensor& w);

}  // namespace deftnn::sve
