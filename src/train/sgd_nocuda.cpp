// Without CUDA the GPU update does not exist; say so.
#include "core/error.h"
#include "train/sgd_kernel.h"

namespace deftnn::train {

void sgd_update_cuda(Context&, float*, const float*, float*, int64_t, float, float, float) {
  DEFTNN_FAIL("sgd on the GPU: {}", cuda_unavailable_reason());
}

}  // namespace deftnn::train
