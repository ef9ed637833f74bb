// Without CUDA the fission kernels do not exist; the front door says so.
#include "gemm/backends.h"

namespace deftnn {

void fission_gemm(Context&, const GemmArgs&, const GemmConfig& config) {
  DEFTNN_FAIL("fission GEMM ({}): {}", config.format.name(), cuda_unavailable_reason());
}

}  // namespace deftnn
