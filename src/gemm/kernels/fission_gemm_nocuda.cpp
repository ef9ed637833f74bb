// Without CUDA the fission kernels do not exist; the front door says so.
#include "gemm/backends.h"
#include "gemm/fission_kernels.h"

namespace deftnn {

void fission_gemm(Context&, const GemmArgs&, const GemmPlan& plan) {
  DEFTNN_FAIL("fission GEMM ({}): {}", plan.format.name(), cuda_unavailable_reason());
}

void fission_pack_device(Context&, const float*, int64_t, int64_t, int64_t, const Format& f, void*) {
  DEFTNN_FAIL("fission packing ({}): {}", f.name(), cuda_unavailable_reason());
}

}  // namespace deftnn
