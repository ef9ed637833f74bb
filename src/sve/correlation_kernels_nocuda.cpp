// Without CUDA the correlation kernels do not exist; every launcher says why.
#include "core/error.h"
#include "sve/correlation_kernels.h"

namespace deftnn::sve::cuda {

void centre_columns(Context&, const float*, int64_t, int64_t, float*, int32_t*) {
  DEFTNN_FAIL("SVE correlation on the GPU: {}", cuda_unavailable_reason());
}
void fix_correlation(Context&, float*, int64_t, const int32_t*) {
  DEFTNN_FAIL("SVE correlation on the GPU: {}", cuda_unavailable_reason());
}

}  // namespace deftnn::sve::cuda
