// Placeholder until the fission kernel family lands (issue 3).
#include "gemm/backends.h"

namespace deftnn {

void fission_gemm(Context&, const GemmArgs&, const GemmConfig& config) {
  DEFTNN_FAIL("fission GEMM ({}) is not implemented yet", config.format.name());
}

}  // namespace deftnn
