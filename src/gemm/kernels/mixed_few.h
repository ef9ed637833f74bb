// The few-token mixed-input GEMM kernel's launcher (kernels/mixed_few.cu),
// called by mixed_gemm (kernels/mixed_gemm.cu) for MixedAlgo::FewTokens once
// the arguments are checked.
#pragma once

#include <cuda_runtime.h>

#include "gemm/mixed/mixed_gemm.h"

namespace deftnn::mixed {
void mixed_few_gemm(cudaStream_t st, const MixedGemmArgs& a);
}  // namespace deftnn::mixed
