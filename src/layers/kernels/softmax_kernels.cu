// One block per row: strided passes over the row (coalesced), shared-memory
// tree reductions for the max, the sum of exponentials and the argmax.
#include <cfloat>

#include "layers/kernels/launch.cuh"
#include "layers/kernels/softmax_kernels.h"

namespace deftnn::kernels {
namespace {

constexpr int kRowThreads = 128;  // threads per row block (a power of two)

__device__ float block_max(float v, float* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kRowThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] = fmaxf(shared[threadIdx.x], shared[threadIdx.x + s]);
    __syncthreads();
  }
  float r = shared[0];
  __syncthreads();
  return r;
}

__device__ float block_sum(float v, float* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kRowThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  float r = shared[0];
  __syncthreads();
  return r;
}

// Index of the first maximum of the row.
__device__ int64_t block_argmax(const float* row, int64_t c, float* sv, int64_t* si) {
  float best = -FLT_MAX;
  int64_t arg = c;  // sentinel past the end
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x)
    if (row[j] > best || arg == c) best = row[j], arg = j;
  sv[threadIdx.x] = best, si[threadIdx.x] = arg;
  __syncthreads();
  for (int s = kRowThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      float v = sv[threadIdx.x + s];
      int64_t i = si[threadIdx.x + s];
      if (i < c && (si[threadIdx.x] == c || v > sv[threadIdx.x] || (v == sv[threadIdx.x] && i < si[threadIdx.x])))
        sv[threadIdx.x] = v, si[threadIdx.x] = i;
    }
    __syncthreads();
  }
  int64_t r = si[0];
  __syncthreads();
  return r;
}

// Row max and sum of exp(x - max).
__device__ void row_stats(const float* row, int64_t c, float* shared, float& mx, float& sum) {
  float m = -FLT_MAX;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) m = fmaxf(m, row[j]);
  mx = block_max(m, shared);
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) s += expf(row[j] - mx);
  sum = block_sum(s, shared);
}

__global__ void softmax_kernel(const float* __restrict__ x, float* __restrict__ probs, int64_t c) {
  __shared__ float shared[kRowThreads];
  const float* row = x + blockIdx.x * c;
  float mx, sum;
  row_stats(row, c, shared, mx, sum);
  float inv = 1.f / sum;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) probs[blockIdx.x * c + j] = expf(row[j] - mx) * inv;
}

__global__ void softmax_backward_kernel(const float* __restrict__ y, const float* __restrict__ dy,
                                        float* __restrict__ dx, int64_t c) {
  __shared__ float shared[kRowThreads];
  int64_t off = blockIdx.x * c;
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) s += dy[off + j] * y[off + j];
  float dot = block_sum(s, shared);
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) dx[off + j] = y[off + j] * (dy[off + j] - dot);
}

__global__ void xent_rows_kernel(const float* __restrict__ logits, const int32_t* __restrict__ labels, int64_t n,
                                 int64_t c, float* __restrict__ dlogits, double* __restrict__ row_loss,
                                 int32_t* __restrict__ row_state) {
  __shared__ float shared[kRowThreads];
  __shared__ int64_t shared_idx[kRowThreads];
  const float* row = logits + blockIdx.x * c;
  int32_t label = labels[blockIdx.x];
  bool bad = label < 0 || label >= c;
  float mx, sum;
  row_stats(row, c, shared, mx, sum);
  int64_t arg = block_argmax(row, c, shared, shared_idx);
  if (threadIdx.x == 0) {
    row_loss[blockIdx.x] = bad ? 0.0 : log(double(sum)) - double(row[label] - mx);
    row_state[blockIdx.x] = bad ? -1 : (arg == label ? 1 : 0);
  }
  if (!dlogits) return;
  float inv = 1.f / sum, inv_n = 1.f / float(n);
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x)
    dlogits[blockIdx.x * c + j] = (expf(row[j] - mx) * inv - (j == label ? 1.f : 0.f)) * inv_n;
}

__global__ void xent_totals_kernel(const double* __restrict__ row_loss, const int32_t* __restrict__ row_state,
                                   int64_t n, XentTotals* totals) {
  __shared__ double sl[kRowThreads], sc[kRowThreads], sb[kRowThreads];
  double l = 0, ok = 0, bad = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    l += row_loss[i];
    ok += row_state[i] == 1;
    bad += row_state[i] < 0;
  }
  sl[threadIdx.x] = l, sc[threadIdx.x] = ok, sb[threadIdx.x] = bad;
  __syncthreads();
  for (int s = kRowThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      sl[threadIdx.x] += sl[threadIdx.x + s];
      sc[threadIdx.x] += sc[threadIdx.x + s];
      sb[threadIdx.x] += sb[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) *totals = {sl[0], sc[0], sb[0]};
}

}  // namespace

void softmax_rows(CUstream_st* stream, const float* x, float* probs, int64_t n, int64_t c) {
  if (n == 0 || c == 0) return;
  softmax_kernel<<<unsigned(n), kRowThreads, 0, stream>>>(x, probs, c);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void softmax_backward_rows(CUstream_st* stream, const float* y, const float* dy, float* dx, int64_t n, int64_t c) {
  if (n == 0 || c == 0) return;
  softmax_backward_kernel<<<unsigned(n), kRowThreads, 0, stream>>>(y, dy, dx, c);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

// Scratch layout: totals (XentTotals), row_loss (n doubles), row_state (n ints).
size_t softmax_xent_scratch_bytes(int64_t n) {
  return sizeof(XentTotals) + size_t(n) * (sizeof(double) + sizeof(int32_t));
}

XentTotals softmax_xent(CUstream_st* stream, const float* logits, const int32_t* labels, int64_t n, int64_t c,
                        float* dlogits, void* scratch) {
  XentTotals* totals = static_cast<XentTotals*>(scratch);
  double* row_loss = reinterpret_cast<double*>(totals + 1);
  int32_t* row_state = reinterpret_cast<int32_t*>(row_loss + n);
  if (n > 0) {
    xent_rows_kernel<<<unsigned(n), kRowThreads, 0, stream>>>(logits, labels, n, c, dlogits, row_loss, row_state);
    DEFTNN_CUDA_CHECK_LAUNCH();
  }
  xent_totals_kernel<<<1, kRowThreads, 0, stream>>>(row_loss, row_state, n, totals);
  DEFTNN_CUDA_CHECK_LAUNCH();
  XentTotals host;
  DEFTNN_CUDA_CHECK(cudaMemcpyAsync(&host, totals, sizeof host, cudaMemcpyDeviceToHost, stream));
  DEFTNN_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host;
}

}  // namespace deftnn::kernels
