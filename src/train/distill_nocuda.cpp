// Without CUDA the GPU distillation loss does not exist; say so.
#include "core/context.h"
#include "core/error.h"
#include "train/distill_kernel.h"

namespace deftnn::train {

void distill_rows_cuda(CUstream_st*, const float*, const int32_t*, const float*, int64_t, int64_t, float, float, float*,
                       float*, float*, int32_t*) {
  DEFTNN_FAIL("distillation loss on the GPU: {}", cuda_unavailable_reason());
}

}  // namespace deftnn::train
