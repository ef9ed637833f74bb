// Without CUDA the GPU distillation loss does not exist; say so.
#include "core/context.h"
#include "core/error.h"
#include "train/distill_kernel.h"

namespace deftnn::train {

void distill_rows_cuda(CUstream_st*, const float*, const int32_t*, const float*, int64_t, int64_t, float, float, float*,
                       void*, float*, float*, int32_t*) {
  DEFTNN_FAIL("distillation loss on the GPU: {}", cuda_unavailable_reason());
}

size_t distill_scratch_bytes(int64_t n) { return size_t(n) * (2 * sizeof(float) + sizeof(int32_t)); }

}  // namespace deftnn::train
