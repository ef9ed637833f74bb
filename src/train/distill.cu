// The distillation loss on the GPU: one thread per row, the CPU path's row
// function (distill_row.h). The rows are short (C = 10 for the networks here),
// so a thread per row is enough; the per-row results are summed on the host.
#include "core/cuda_check.h"
#include "train/distill_kernel.h"
#include "train/distill_row.h"

namespace deftnn::train {

namespace {
constexpr int kThreads = 128;

__global__ void distill_rows_kernel(const float* __restrict__ z, const int32_t* __restrict__ y,
                                    const float* __restrict__ t, int64_t n, int64_t c, float temperature,
                                    float weight, float* dz, float* row_hard, float* row_soft, int32_t* row_flags) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  detail::distill_row<float>(z + i * c, y[i], t + i * c, c, temperature, weight, 1.f / float(n),
                             dz ? dz + i * c : nullptr, row_hard + i, row_soft + i, row_flags + i);
}
}  // namespace

size_t distill_scratch_bytes(int64_t n) { return size_t(n) * (2 * sizeof(float) + sizeof(int32_t)); }

void distill_rows_cuda(CUstream_st* stream, const float* z, const int32_t* y, const float* t, int64_t n, int64_t c,
                       float temperature, float weight, float* dz, void* scratch, float* row_hard, float* row_soft,
                       int32_t* row_flags) {
  if (n == 0) return;
  float* hard = static_cast<float*>(scratch);
  float* soft = hard + n;
  int32_t* flags = reinterpret_cast<int32_t*>(soft + n);
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  distill_rows_kernel<<<unsigned(blocks), kThreads, 0, stream>>>(z, y, t, n, c, temperature, weight, dz, hard, soft,
                                                                 flags);
  DEFTNN_CUDA_CHECK_LAUNCH();
  DEFTNN_CUDA_CHECK(cudaMemcpyAsync(row_hard, hard, size_t(n) * sizeof(float), cudaMemcpyDeviceToHost, stream));
  DEFTNN_CUDA_CHECK(cudaMemcpyAsync(row_soft, soft, size_t(n) * sizeof(float), cudaMemcpyDeviceToHost, stream));
  DEFTNN_CUDA_CHECK(cudaMemcpyAsync(row_flags, flags, size_t(n) * sizeof(int32_t), cudaMemcpyDeviceToHost, stream));
  DEFTNN_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace deftnn::train
