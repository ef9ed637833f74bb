// The SGD update on the GPU: one thread per element, grid-stride loop. The
// arithmetic is sgd_update_cpu's, in the same order.
#include "core/cuda_check.h"
#include "train/sgd_kernel.h"

namespace deftnn::train {

namespace {
constexpr int kThreads = 256;
constexpr int kMaxBlocks = 4096;

__global__ void sgd_update_kernel(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ v,
                                  int64_t n, float lr, float momentum, float decay) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float wi = w[i];
    float gi = __fadd_rn(__fmul_rn(decay, wi), g[i]);
    float vi = __fadd_rn(__fmul_rn(lr, gi), __fmul_rn(momentum, v[i]));
    v[i] = vi;
    w[i] = __fsub_rn(wi, vi);
  }
}
}  // namespace

void sgd_update_cuda(Context& ctx, float* w, const float* g, float* v, int64_t n, float lr, float momentum,
                     float decay) {
  if (n == 0) return;
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  sgd_update_kernel<<<int(blocks), kThreads, 0, ctx.stream()>>>(w, g, v, n, lr, momentum, decay);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::train
