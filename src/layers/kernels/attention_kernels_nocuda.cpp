// Without CUDA the attention kernels do not exist; each launcher says why
// (no CUDA tensor can exist in such a build either).
#include "core/context.h"
#include "core/error.h"
#include "layers/kernels/attention_kernels.h"

namespace deftnn::kernels {

size_t attention_scratch_bytes(const AttentionDims&, bool) { return 0; }
void attention_forward(cublasContext*, CUstream_st*, const AttentionDims&, const float*, const float*, const float*,
                       const float*, float*, void*) {
  DEFTNN_FAIL("attention on the GPU: {}", cuda_unavailable_reason());
}
void attention_backward(cublasContext*, CUstream_st*, const AttentionDims&, const float*, const float*, const float*,
                        const float*, const float*, float*, float*, float*, void*) {
  DEFTNN_FAIL("attention on the GPU: {}", cuda_unavailable_reason());
}

}  // namespace deftnn::kernels
