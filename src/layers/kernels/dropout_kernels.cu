#include "layers/dropout_hash.h"
#include "layers/kernels/dropout_kernels.h"
#include "layers/kernels/launch.cuh"

namespace deftnn::kernels {
namespace {

__global__ void dropout_kernel(const float* in, float* out, int64_t n, uint64_t key, uint64_t threshold,
                               float scale) {
  DEFTNN_GRID_LOOP(i, n) { out[i] = dropout_keep(key, uint64_t(i), threshold) ? in[i] * scale : 0.f; }
}

}  // namespace

void dropout_apply(CUstream_st* stream, const float* in, float* out, int64_t n, uint64_t key, uint64_t threshold,
                   float scale) {
  if (n == 0) return;
  dropout_kernel<<<blocks_for(n), kThreads, 0, stream>>>(in, out, n, key, threshold, scale);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::kernels
