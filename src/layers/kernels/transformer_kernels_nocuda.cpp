// Without CUDA the transformer layers' kernels do not exist; every launcher
// says why (no CUDA tensor can exist in such a build either).
#include "core/context.h"
#include "core/error.h"
#include "layers/kernels/transformer_kernels.h"

namespace deftnn::kernels {

namespace {
[[noreturn]] void unavailable(const char* what) { DEFTNN_FAIL("{} on the GPU: {}", what, cuda_unavailable_reason()); }
}  // namespace

void layernorm_forward(CUstream_st*, const float*, const float*, const float*, float*, int64_t, int64_t, float) {
  unavailable("layernorm");
}
void layernorm_backward(CUstream_st*, const float*, const float*, const float*, float*, float*, float*, int64_t,
                        int64_t, float, void*) {
  unavailable("layernorm");
}
size_t layernorm_scratch_bytes(int64_t) { return 0; }
void gelu_forward(CUstream_st*, const float*, float*, int64_t) { unavailable("gelu"); }
void gelu_backward(CUstream_st*, const float*, const float*, float*, int64_t) { unavailable("gelu"); }
void l2norm_forward(CUstream_st*, const float*, float*, int64_t, int64_t, float) { unavailable("l2norm"); }
void l2norm_backward(CUstream_st*, const float*, const float*, const float*, float*, int64_t, int64_t, float) {
  unavailable("l2norm");
}
void meanpool_forward(CUstream_st*, const float*, const float*, float*, int64_t, int64_t, int64_t) {
  unavailable("meanpool");
}
void meanpool_backward(CUstream_st*, const float*, const float*, float*, int64_t, int64_t, int64_t) {
  unavailable("meanpool");
}
int64_t embedding_bad_ids(CUstream_st*, EmbeddingIds, int64_t, int64_t, void*) { unavailable("embedding"); }
size_t embedding_scratch_bytes() { return 0; }
void embedding_forward(CUstream_st*, EmbeddingIds, EmbeddingIds, const float*, const float*, const float*, float*,
                       int64_t, int64_t, int64_t, int64_t, int64_t) {
  unavailable("embedding");
}
void embedding_backward(CUstream_st*, EmbeddingIds, EmbeddingIds, const float*, float*, int64_t, float*, int64_t,
                        float*, int64_t, int64_t, int64_t, int64_t) {
  unavailable("embedding");
}

}  // namespace deftnn::kernels
