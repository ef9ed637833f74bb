// Private to gemm/: entry points of the fission kernels besides fission_gemm().
#pragma once

#include "gemm/gemm.h"

namespace deftnn {

// Packs A (M, K) row-major fp32 on the GPU (row stride lda) into the layout of
// gemm/pack.h with Rounding::Nearest; out must hold packed_kp(K) * packed_row_bytes(f, M) bytes.
void fission_pack_device(Context& ctx, const float* A, int64_t lda, int64_t M, int64_t K, const Format& f, void* out);

}  // namespace deftnn
