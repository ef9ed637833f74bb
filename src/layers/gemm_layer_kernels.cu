// CUDA side of gemm_layer_kernels.h. Every kernel is one pass with one thread
// per output element, laid out so that a warp reads and writes consecutive
// addresses (the permutes move along the contiguous HW axis on both sides).
#include <algorithm>

#include "core/cuda_check.h"
#include "layers/gemm_layer_kernels.h"

namespace deftnn::detail {

namespace {

constexpr int kThreads = 256;       // threads per block of the elementwise kernels
constexpr int kReduceThreads = 256;  // threads per block of channel_sums (one block per channel)

constexpr int64_t kMaxGridY = 65535;  // CUDA's gridDim.y limit

unsigned blocks_for(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }
dim3 grid_2d(int64_t inner, int64_t outer) {
  return dim3(blocks_for(inner), unsigned(std::min(outer, kMaxGridY)));
}

// Grid: (HW blocks, one row (n, c) per blockIdx.y step); no per-element division.
template <bool kRelu>
__global__ void bias_permute_kernel(const float* __restrict__ out, const float* __restrict__ bias, int nb, int C, int HW, float* y,
                                    float slope) {
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= HW) return;
  for (int row = blockIdx.y; row < nb * C; row += gridDim.y) {
    const int n = row / C, c = row - n * C;
    float v = out[(int64_t(c) * nb + n) * HW + p] + (bias ? __ldg(bias + c) : 0.f);
    if (kRelu) v = v > 0.f ? v : slope * v;
    y[int64_t(row) * HW + p] = v;
  }
}

__global__ void unpermute_kernel(const float* __restrict__ dy, int nb, int C, int HW, float* __restrict__ out) {
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= HW) return;
  for (int row = blockIdx.y; row < nb * C; row += gridDim.y) {
    const int n = row / C, c = row - n * C;
    out[(int64_t(c) * nb + n) * HW + p] = dy[int64_t(row) * HW + p];
  }
}

__global__ void scatter_cols_kernel(const float* __restrict__ src, int64_t nrows, int64_t nidx,
                                    const int32_t* __restrict__ idx, float* __restrict__ dst, int64_t ld_dst) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= nrows * nidx) return;
  const int64_t n = e / nidx, t = e - n * nidx;
  dst[n * ld_dst + idx[t]] = src[e];
}

template <bool kRelu>
__global__ void add_row_bias_kernel(float* y, int64_t nrows, int64_t ncols, const float* __restrict__ bias,
                                    float slope) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= nrows * ncols) return;
  float v = y[e] + (bias ? bias[e % ncols] : 0.f);
  if (kRelu) v = v > 0.f ? v : slope * v;
  y[e] = v;
}

// Grid: (column blocks, one channel row per blockIdx.y step).
template <bool kRelu>
__global__ void add_channel_bias_kernel(float* y, int nrows, int64_t ncols, const float* __restrict__ bias,
                                        float slope) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= ncols) return;
  for (int c = blockIdx.y; c < nrows; c += gridDim.y) {
    float v = y[int64_t(c) * ncols + j] + (bias ? __ldg(bias + c) : 0.f);
    if (kRelu) v = v > 0.f ? v : slope * v;
    y[int64_t(c) * ncols + j] = v;
  }
}

__global__ void column_sums_kernel(const float* __restrict__ dy, int64_t nrows, int64_t ncols, float* db) {
  const int64_t m = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (m >= ncols) return;
  float s = 0.f;
  for (int64_t n = 0; n < nrows; ++n) s += dy[n * ncols + m];
  db[m] = s;
}

__global__ void channel_sums_kernel(const float* __restrict__ dy, int64_t nb, int64_t C, int64_t HW, float* db) {
  __shared__ float part[kReduceThreads];
  const int64_t c = blockIdx.x;
  float s = 0.f;
  for (int64_t n = 0; n < nb; ++n) {
    const float* d = dy + (n * C + c) * HW;
    for (int64_t p = threadIdx.x; p < HW; p += blockDim.x) s += d[p];
  }
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = kReduceThreads / 2; w > 0; w /= 2) {
    if (int(threadIdx.x) < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[c] = part[0];
}

}  // namespace

void bias_permute_cuda(Context& ctx, const float* out, const float* bias, int64_t nb, int64_t C, int64_t HW,
                       float* y, bool relu, float slope) {
  const int64_t total = nb * C * HW;
  if (!total) return;
  if (out == y && !bias && !relu) return;
  DEFTNN_CHECK(nb * C < (int64_t(1) << 31) && HW < (int64_t(1) << 31), "bias_permute: sizes exceed int32");
  if (relu)
    bias_permute_kernel<true><<<grid_2d(HW, nb * C), kThreads, 0, ctx.stream()>>>(out, bias, int(nb), int(C), int(HW),
                                                                                  y, slope);
  else
    bias_permute_kernel<false><<<grid_2d(HW, nb * C), kThreads, 0, ctx.stream()>>>(out, bias, int(nb), int(C),
                                                                                   int(HW), y, slope);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void unpermute_cuda(Context& ctx, const float* dy, int64_t nb, int64_t C, int64_t HW, float* out) {
  const int64_t total = nb * C * HW;
  if (!total) return;
  DEFTNN_CHECK(nb * C < (int64_t(1) << 31) && HW < (int64_t(1) << 31), "unpermute: sizes exceed int32");
  unpermute_kernel<<<grid_2d(HW, nb * C), kThreads, 0, ctx.stream()>>>(dy, int(nb), int(C), int(HW), out);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void scatter_cols_cuda(Context& ctx, const float* src, int64_t nrows, int64_t nidx, const int32_t* idx, float* dst,
                       int64_t ld_dst) {
  if (!nrows || !nidx) return;
  scatter_cols_kernel<<<blocks_for(nrows * nidx), kThreads, 0, ctx.stream()>>>(src, nrows, nidx, idx, dst, ld_dst);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void copy_f32_cuda(Context& ctx, const float* src, int64_t n, float* dst) {
  if (n) DEFTNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(n) * sizeof(float), cudaMemcpyDeviceToDevice, ctx.stream()));
}

void add_row_bias_cuda(Context& ctx, float* y, int64_t nrows, int64_t ncols, const float* bias, bool relu,
                       float slope) {
  if (!nrows || !ncols || (!bias && !relu)) return;
  if (relu)
    add_row_bias_kernel<true><<<blocks_for(nrows * ncols), kThreads, 0, ctx.stream()>>>(y, nrows, ncols, bias, slope);
  else
    add_row_bias_kernel<false><<<blocks_for(nrows * ncols), kThreads, 0, ctx.stream()>>>(y, nrows, ncols, bias, slope);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void add_channel_bias_cuda(Context& ctx, float* y, int64_t nrows, int64_t ncols, const float* bias, bool relu,
                           float slope) {
  if (!nrows || !ncols || (!bias && !relu)) return;
  DEFTNN_CHECK(nrows < (int64_t(1) << 31), "add_channel_bias: {} rows exceed int32", nrows);
  if (relu)
    add_channel_bias_kernel<true><<<grid_2d(ncols, nrows), kThreads, 0, ctx.stream()>>>(y, int(nrows), ncols, bias,
                                                                                        slope);
  else
    add_channel_bias_kernel<false><<<grid_2d(ncols, nrows), kThreads, 0, ctx.stream()>>>(y, int(nrows), ncols, bias,
                                                                                         slope);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void column_sums_cuda(Context& ctx, const float* dy, int64_t nrows, int64_t ncols, float* db) {
  if (!ncols) return;
  column_sums_kernel<<<blocks_for(ncols), kThreads, 0, ctx.stream()>>>(dy, nrows, ncols, db);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void channel_sums_cuda(Context& ctx, const float* dy, int64_t nb, int64_t C, int64_t HW, float* db) {
  if (!C) return;
  channel_sums_kernel<<<unsigned(C), kReduceThreads, 0, ctx.stream()>>>(dy, nb, C, HW, db);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::detail
