// Without CUDA there is no device conversion; the CublasLt backend says so.
#include "core/context.h"
#include "core/error.h"
#include "gemm/kernels/lowp_convert.h"

namespace deftnn {

void lowp_amax_device(const float*, int64_t, int64_t, int64_t, int64_t, float*, void*) {
  DEFTNN_FAIL("fp8 amax on the device: {}", cuda_unavailable_reason());
}

void lowp_convert_device(const float*, int64_t, int64_t, int64_t, int64_t, Precision p, const float*, float*, void*,
                         int64_t, int64_t, void*) {
  DEFTNN_FAIL("{} conversion on the device: {}", precision_name(p), cuda_unavailable_reason());
}

void lowp_copy_out_device(const float*, int64_t, float*, int64_t, int64_t, int64_t, float, void*) {
  DEFTNN_FAIL("cuBLASLt result copy: {}", cuda_unavailable_reason());
}

}  // namespace deftnn
