// Without CUDA the input transform kernels do not exist; every launcher says why.
#include "core/error.h"
#include "synapse/transform_kernels.h"

namespace deftnn::sve::cuda {

#define DEFTNN_SVE_NO_CUDA(what) DEFTNN_FAIL("SVE {} on the GPU: {}", what, cuda_unavailable_reason())

void swap_rows(Context&, float*, int64_t, int64_t, const int32_t*, int64_t) { DEFTNN_SVE_NO_CUDA("swap_rows"); }
void copy_rows(Context&, const float*, int64_t, int64_t, const int32_t*, int64_t, float*, int64_t) {
  DEFTNN_SVE_NO_CUDA("copy_rows");
}
void swap_cols(Context&, float*, int64_t, int64_t, const int32_t*, int64_t) { DEFTNN_SVE_NO_CUDA("swap_cols"); }
void copy_cols(Context&, const float*, int64_t, int64_t, const int32_t*, int64_t, float*, int64_t) {
  DEFTNN_SVE_NO_CUDA("copy_cols");
}

}  // namespace deftnn::sve::cuda
