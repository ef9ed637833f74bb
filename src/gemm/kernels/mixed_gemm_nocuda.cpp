// Without CUDA the mixed-input GEMM kernels do not exist; the entry points say so.
#include "gemm/mixed/mixed_gemm.h"

#include "core/error.h"

namespace deftnn::mixed {

void mixed_gemm(Context&, const MixedGemmArgs& a) {
  DEFTNN_FAIL("mixed_gemm ({}): {}", a.W ? a.W->format.name() : "?", cuda_unavailable_reason());
}
int mixed_gemm_splits(const MixedGemmArgs&) { return 1; }
MixedWorkspace make_mixed_workspace(const Context&, const MixedGemmArgs& a) {
  DEFTNN_FAIL("mixed_gemm workspace ({}): {}", a.W ? a.W->format.name() : "?", cuda_unavailable_reason());
}
void mixed_unpack_device(Context&, const WeightFormat& f, const uint32_t*, int64_t, uint32_t*) {
  DEFTNN_FAIL("mixed_unpack_device ({}): {}", f.name(), cuda_unavailable_reason());
}

}  // namespace deftnn::mixed
