// Without CUDA the ceilings cannot be measured: every entry point says why.
#include "bench/ceilings.h"
#include "bench/ceilings_kernels.h"
#include "core/context.h"
#include "core/error.h"

namespace deftnn::bench {
Ceilings measure_ceilings(Context&, const CeilingOptions&) {
  DEFTNN_FAIL("the roofline ceilings are measured on a GPU: {}", cuda_unavailable_reason());
}
void launch_hbm_read(const void*, size_t, float*, int, void*) { DEFTNN_FAIL("{}", cuda_unavailable_reason()); }
void launch_empty_kernel(void*) { DEFTNN_FAIL("{}", cuda_unavailable_reason()); }
void fill_uniform(void*, size_t, FillType, uint32_t, void*) { DEFTNN_FAIL("{}", cuda_unavailable_reason()); }
}  // namespace deftnn::bench
