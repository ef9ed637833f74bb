// Without CUDA the layer kernels do not exist; every launcher says why. (No
// CUDA tensor can exist in such a build either, so these are never reached
// through a layer.)
#include "core/context.h"
#include "core/error.h"
#include "layers/kernels/add_kernels.h"
#include "layers/kernels/batchnorm_kernels.h"
#include "layers/kernels/copy_rows_kernels.h"
#include "layers/kernels/dropout_kernels.h"
#include "layers/kernels/lrn_kernels.h"
#include "layers/kernels/pool_kernels.h"
#include "layers/kernels/activation_kernels.h"
#include "layers/kernels/relu_kernels.h"
#include "layers/kernels/softmax_kernels.h"

namespace deftnn::kernels {

namespace {
[[noreturn]] void unavailable(const char* what) { DEFTNN_FAIL("{} on the GPU: {}", what, cuda_unavailable_reason()); }
}  // namespace

void relu_forward(CUstream_st*, const float*, float*, int64_t, float) { unavailable("relu"); }
void relu_backward(CUstream_st*, const float*, const float*, float*, int64_t, float) { unavailable("relu"); }
void activation_forward(CUstream_st*, ActivationKind, const float*, float*, int64_t, float, float) {
  unavailable("activation");
}
void activation_backward(CUstream_st*, ActivationKind, const float*, const float*, float*, int64_t, float, float) {
  unavailable("activation");
}
void clip_forward(CUstream_st*, const float*, float*, int64_t, float, float) { unavailable("clip"); }
void clip_backward(CUstream_st*, const float*, const float*, float*, int64_t, float, float) { unavailable("clip"); }
void max_pool_forward(CUstream_st*, const PoolDims&, const float*, float*, int32_t*) { unavailable("max pool"); }
void max_pool_backward(CUstream_st*, const PoolDims&, const float*, const int32_t*, float*) { unavailable("max pool"); }
void pool_forward_inference(CUstream_st*, const PoolDims&, const PoolInferIO&, const float*, float*) {
  unavailable("pool");
}
void avg_pool_backward(CUstream_st*, const PoolDims&, const float*, float*) { unavailable("avg pool"); }
void lrn_forward(CUstream_st*, const LrnDims&, const float*, float*, bool) { unavailable("lrn"); }
void lrn_backward(CUstream_st*, const LrnDims&, const float*, const float*, const float*, float*, float*) {
  unavailable("lrn");
}
void dropout_apply(CUstream_st*, const float*, float*, int64_t, uint64_t, uint64_t, float) { unavailable("dropout"); }
void bn_train_stats(CUstream_st*, const BnDims&, const float*, float, float, float*, float*, float*, float*) {
  unavailable("batchnorm");
}
void bn_inference_stats(CUstream_st*, int, const float*, const float*, float, float*, float*) {
  unavailable("batchnorm");
}
void bn_apply(CUstream_st*, const BnDims&, const float*, const float*, const float*, const float*, const float*,
              float*) {
  unavailable("batchnorm");
}
void bn_backward(CUstream_st*, const BnDims&, const float*, const float*, const float*, const float*, const float*,
                 bool, float*, float*, float*) {
  unavailable("batchnorm");
}
void softmax_rows(CUstream_st*, const float*, float*, int64_t, int64_t) { unavailable("softmax"); }
void softmax_backward_rows(CUstream_st*, const float*, const float*, float*, int64_t, int64_t) {
  unavailable("softmax");
}
XentTotals softmax_xent(CUstream_st*, const float*, const int32_t*, int64_t, int64_t, float*, void*) {
  unavailable("softmax cross-entropy");
}
size_t softmax_xent_scratch_bytes(int64_t n) { return 0; }
void add2(CUstream_st*, const float*, const float*, float*, int64_t) { unavailable("add"); }
void add_into(CUstream_st*, float*, const float*, int64_t) { unavailable("add"); }
void copy_rows(CUstream_st*, void*, int64_t, const void*, int64_t, int64_t, int64_t) { unavailable("strided copy"); }

}  // namespace deftnn::kernels
