// Row kernels (layer norm, L2 norm): one block per row, strided passes over
// the row (coalesced) and shared-memory tree sums. Parameter and table
// gradients: one thread per column summing rows or tokens in order, so the
// results are deterministic and need no atomics.
#include "layers/kernels/launch.cuh"
#include "layers/kernels/transformer_kernels.h"

namespace deftnn::kernels {
namespace {

constexpr int kRowThreads = 128;  // threads per row block (a power of two)
constexpr float kMinCount = 1e-9f;  // sentence-transformers' clamp of the mask count

unsigned row_blocks(int64_t rows) { return unsigned(std::clamp<int64_t>(rows, 1, kMaxBlocks)); }

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

// Mean and 1 / sqrt(var + eps) of one row: the mean first, then the squared
// deviations from it (no cancellation of E[x^2] - E[x]^2).
__device__ void row_moments(const float* row, int64_t h, float eps, float* shared, float& mean, float& rstd) {
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < h; j += blockDim.x) s += row[j];
  mean = block_sum(s, shared) / float(h);
  float q = 0.f;
  for (int64_t j = threadIdx.x; j < h; j += blockDim.x) {
    float d = row[j] - mean;
    q += d * d;
  }
  rstd = rsqrtf(block_sum(q, shared) / float(h) + eps);
}

__global__ void layernorm_forward_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                         const float* __restrict__ beta, float* __restrict__ y, int64_t rows,
                                         int64_t h, float eps) {
  __shared__ float shared[kRowThreads];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * h;
    float mean, rstd;
    row_moments(xr, h, eps, shared, mean, rstd);
    for (int64_t j = threadIdx.x; j < h; j += blockDim.x) y[r * h + j] = (xr[j] - mean) * rstd * gamma[j] + beta[j];
  }
}

// dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dy gamma; also each
// row's mean and rstd for the column sums.
__global__ void layernorm_backward_rows_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                               const float* __restrict__ dy, float* __restrict__ dx,
                                               float* __restrict__ stats, int64_t rows, int64_t h, float eps) {
  __shared__ float shared[kRowThreads];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * h, *gr = dy + r * h;
    float mean, rstd;
    row_moments(xr, h, eps, shared, mean, rstd);
    if (threadIdx.x == 0) stats[2 * r] = mean, stats[2 * r + 1] = rstd;
    if (!dx) continue;
    float a = 0.f, b = 0.f;
    for (int64_t j = threadIdx.x; j < h; j += blockDim.x) {
      float g = gr[j] * gamma[j];
      a += g;
      b += g * (xr[j] - mean) * rstd;
    }
    a = block_sum(a, shared) / float(h);
    b = block_sum(b, shared) / float(h);
    for (int64_t j = threadIdx.x; j < h; j += blockDim.x) {
      float xh = (xr[j] - mean) * rstd;
      dx[r * h + j] = rstd * (gr[j] * gamma[j] - a - xh * b);
    }
  }
}

__global__ void layernorm_param_grads_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                             const float* __restrict__ stats, float* __restrict__ dgamma,
                                             float* __restrict__ dbeta, int64_t rows, int64_t h) {
  DEFTNN_GRID_LOOP(j, h) {
    float sg = 0.f, sb = 0.f;
    for (int64_t r = 0; r < rows; ++r) {
      float g = dy[r * h + j];
      sg += g * (x[r * h + j] - stats[2 * r]) * stats[2 * r + 1];
      sb += g;
    }
    dgamma[j] = sg;
    dbeta[j] = sb;
  }
}

// Phi(x) = erfc(-x / sqrt 2) / 2: no cancellation in 1 + erf for x << 0.
__global__ void gelu_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  DEFTNN_GRID_LOOP(i, n) {
    float v = x[i];
    y[i] = 0.5f * v * erfcf(-v * 0.70710678118654752f);
  }
}

// d/dx x Phi(x) = Phi(x) + x phi(x).
__global__ void gelu_backward_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                     float* __restrict__ dx, int64_t n) {
  DEFTNN_GRID_LOOP(i, n) {
    float v = x[i];
    float cdf = 0.5f * erfcf(-v * 0.70710678118654752f);
    float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

__global__ void l2norm_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t rows, int64_t h,
                                      float eps) {
  __shared__ float shared[kRowThreads];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * h;
    float q = 0.f;
    for (int64_t j = threadIdx.x; j < h; j += blockDim.x) q += xr[j] * xr[j];
    float d = fmaxf(sqrtf(block_sum(q, shared)), eps);
    for (int64_t j = threadIdx.x; j < h; j += blockDim.x) y[r * h + j] = xr[j] / d;
  }
}

// Above eps: dx = (dy - y (dy . y)) / ||x||; at the clamp y = x / eps is
// linear: dx = dy / eps.
__global__ void l2norm_backward_kernel(const float* __restrict__ x, const float* __restrict__ y,
                                       const float* __restrict__ dy, float* __restrict__ dx, int64_t rows, int64_t h,
                                       float eps) {
  __shared__ float shared[kRowThreads];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * h, *yr = y + r * h, *gr = dy + r * h;
    float q = 0.f, p = 0.f;
    for (int64_t j = threadIdx.x; j < h; j += blockDim.x) q += xr[j] * xr[j], p += gr[j] * yr[j];
    float nrm = sqrtf(block_sum(q, shared));
    float dot = block_sum(p, shared);
    for (int64_t j = threadIdx.x; j < h; j += blockDim.x)
      dx[r * h + j] = nrm > eps ? (gr[j] - yr[j] * dot) / nrm : gr[j] / eps;
  }
}

__device__ float mask_count(const float* mask, int64_t t) {
  float c = 0.f;
  for (int64_t k = 0; k < t; ++k) c += mask[k];
  return fmaxf(c, kMinCount);
}

__global__ void meanpool_forward_kernel(const float* __restrict__ x, const float* __restrict__ mask,
                                        float* __restrict__ y, int64_t n, int64_t t, int64_t h) {
  DEFTNN_GRID_LOOP(i, n * h) {
    const int64_t b = i / h, j = i % h;
    const float* m = mask + b * t;
    float s = 0.f;
    for (int64_t k = 0; k < t; ++k) s += m[k] * x[(b * t + k) * h + j];
    y[i] = s / mask_count(m, t);
  }
}

__global__ void meanpool_backward_kernel(const float* __restrict__ mask, const float* __restrict__ dy,
                                         float* __restrict__ dx, int64_t n, int64_t t, int64_t h) {
  DEFTNN_GRID_LOOP(i, n * t * h) {
    const int64_t j = i % h, k = (i / h) % t, b = i / (t * h);
    const float* m = mask + b * t;
    dx[i] = m[k] * dy[b * h + j] / mask_count(m, t);
  }
}

// Index k of `ids` as a row number; -1 when not a whole number.
__device__ int64_t row_of(EmbeddingIds ids, int64_t k) {
  if (ids.i32) return ids.i32[k];
  float v = ids.f32[k];
  return v == truncf(v) && fabsf(v) < 2147483648.f ? int64_t(v) : -1;
}

__global__ void embedding_bad_ids_kernel(EmbeddingIds ids, int64_t count, int64_t limit,
                                         unsigned long long* bad) {
  DEFTNN_GRID_LOOP(k, count) {
    int64_t r = row_of(ids, k);
    if (r < 0 || r >= limit) atomicAdd(bad, 1ULL);  // a count: the order does not matter
  }
}

__global__ void embedding_forward_kernel(EmbeddingIds ids, EmbeddingIds type_ids, const float* __restrict__ word,
                                         const float* __restrict__ position, const float* __restrict__ type,
                                         float* __restrict__ y, int64_t n, int64_t t, int64_t h, int64_t vocab,
                                         int64_t types) {
  const bool typed = type_ids.f32 || type_ids.i32;
  DEFTNN_GRID_LOOP(i, n * t * h) {
    const int64_t k = i / h, j = i % h;
    // The ids were checked before (embedding_bad_ids), except inside a CUDA
    // graph capture, which cannot read them back: a bad id then makes a NaN
    // row instead of a read outside the table.
    const int64_t r = row_of(ids, k), c = typed ? row_of(type_ids, k) : 0;
    if (r < 0 || r >= vocab || (type && (c < 0 || c >= types))) {
      y[i] = __int_as_float(0x7fc00000);
      continue;
    }
    float v = word[r * h + j];
    if (position) v += position[(k % t) * h + j];
    if (type) v += type[c * h + j];
    y[i] = v;
  }
}

// Column j of a table: the tokens' gradient rows added in token order.
__global__ void embedding_table_grad_kernel(EmbeddingIds ids, const float* __restrict__ dy,
                                            float* __restrict__ dtable, int64_t tokens, int64_t h) {
  DEFTNN_GRID_LOOP(j, h) {
    for (int64_t k = 0; k < tokens; ++k) dtable[row_of(ids, k) * h + j] += dy[k * h + j];
  }
}

// Position p, column j: the sum over the batch in order.
__global__ void embedding_position_grad_kernel(const float* __restrict__ dy, float* __restrict__ dposition,
                                               int64_t n, int64_t t, int64_t h) {
  DEFTNN_GRID_LOOP(i, t * h) {
    float s = 0.f;
    for (int64_t b = 0; b < n; ++b) s += dy[b * t * h + i];
    dposition[i] = s;
  }
}

// The gradient of type row 0 when no type ids are given: every token's row.
__global__ void embedding_type0_grad_kernel(const float* __restrict__ dy, float* __restrict__ dtype, int64_t tokens,
                                            int64_t h) {
  DEFTNN_GRID_LOOP(j, h) {
    float s = 0.f;
    for (int64_t k = 0; k < tokens; ++k) s += dy[k * h + j];
    dtype[j] = s;
  }
}

}  // namespace

void layernorm_forward(CUstream_st* stream, const float* x, const float* gamma, const float* beta, float* y,
                       int64_t rows, int64_t h, float eps) {
  if (rows == 0 || h == 0) return;
  layernorm_forward_kernel<<<row_blocks(rows), kRowThreads, 0, stream>>>(x, gamma, beta, y, rows, h, eps);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

size_t layernorm_scratch_bytes(int64_t rows) { return size_t(2 * std::max<int64_t>(rows, 1)) * sizeof(float); }

void layernorm_backward(CUstream_st* stream, const float* x, const float* gamma, const float* dy, float* dx,
                        float* dgamma, float* dbeta, int64_t rows, int64_t h, float eps, void* scratch) {
  if (h == 0) return;
  float* stats = static_cast<float*>(scratch);
  if (rows > 0) {
    layernorm_backward_rows_kernel<<<row_blocks(rows), kRowThreads, 0, stream>>>(x, gamma, dy, dx, stats, rows, h,
                                                                                 eps);
    DEFTNN_CUDA_CHECK_LAUNCH();
  }
  layernorm_param_grads_kernel<<<blocks_for(h), kThreads, 0, stream>>>(x, dy, stats, dgamma, dbeta, rows, h);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void gelu_forward(CUstream_st* stream, const float* x, float* y, int64_t n) {
  if (n == 0) return;
  gelu_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, n);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void gelu_backward(CUstream_st* stream, const float* x, const float* dy, float* dx, int64_t n) {
  if (n == 0) return;
  gelu_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, dy, dx, n);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void l2norm_forward(CUstream_st* stream, const float* x, float* y, int64_t rows, int64_t h, float eps) {
  if (rows == 0 || h == 0) return;
  l2norm_forward_kernel<<<row_blocks(rows), kRowThreads, 0, stream>>>(x, y, rows, h, eps);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void l2norm_backward(CUstream_st* stream, const float* x, const float* y, const float* dy, float* dx, int64_t rows,
                     int64_t h, float eps) {
  if (rows == 0 || h == 0) return;
  l2norm_backward_kernel<<<row_blocks(rows), kRowThreads, 0, stream>>>(x, y, dy, dx, rows, h, eps);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void meanpool_forward(CUstream_st* stream, const float* x, const float* mask, float* y, int64_t n, int64_t t,
                      int64_t h) {
  if (n * h == 0) return;
  meanpool_forward_kernel<<<blocks_for(n * h), kThreads, 0, stream>>>(x, mask, y, n, t, h);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void meanpool_backward(CUstream_st* stream, const float* mask, const float* dy, float* dx, int64_t n, int64_t t,
                       int64_t h) {
  if (n * t * h == 0) return;
  meanpool_backward_kernel<<<blocks_for(n * t * h), kThreads, 0, stream>>>(mask, dy, dx, n, t, h);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

size_t embedding_scratch_bytes() { return sizeof(unsigned long long); }

int64_t embedding_bad_ids(CUstream_st* stream, EmbeddingIds ids, int64_t count, int64_t limit, void* scratch) {
  if (count == 0) return 0;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  DEFTNN_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
  if (capture != cudaStreamCaptureStatusNone) return 0;  // no read-back in a graph: the forward kernel guards
  auto* bad = static_cast<unsigned long long*>(scratch);
  DEFTNN_CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof *bad, stream));
  embedding_bad_ids_kernel<<<blocks_for(count), kThreads, 0, stream>>>(ids, count, limit, bad);
  DEFTNN_CUDA_CHECK_LAUNCH();
  unsigned long long host = 0;
  DEFTNN_CUDA_CHECK(cudaMemcpyAsync(&host, bad, sizeof host, cudaMemcpyDeviceToHost, stream));
  DEFTNN_CUDA_CHECK(cudaStreamSynchronize(stream));
  return int64_t(host);
}

void embedding_forward(CUstream_st* stream, EmbeddingIds ids, EmbeddingIds type_ids, const float* word,
                       const float* position, const float* type, float* y, int64_t n, int64_t t, int64_t h,
                       int64_t vocab, int64_t types) {
  if (n * t * h == 0) return;
  embedding_forward_kernel<<<blocks_for(n * t * h), kThreads, 0, stream>>>(ids, type_ids, word, position, type, y,
                                                                           n, t, h, vocab, types);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void embedding_backward(CUstream_st* stream, EmbeddingIds ids, EmbeddingIds type_ids, const float* dy, float* dword,
                        int64_t vocab, float* dposition, int64_t positions, float* dtype, int64_t types, int64_t n,
                        int64_t t, int64_t h) {
  const int64_t tokens = n * t;
  const size_t row = size_t(h) * sizeof(float);
  if (dword) {
    DEFTNN_CUDA_CHECK(cudaMemsetAsync(dword, 0, size_t(vocab) * row, stream));
    if (tokens > 0 && h > 0) {
      embedding_table_grad_kernel<<<blocks_for(h), kThreads, 0, stream>>>(ids, dy, dword, tokens, h);
      DEFTNN_CUDA_CHECK_LAUNCH();
    }
  }
  if (dposition) {
    DEFTNN_CUDA_CHECK(cudaMemsetAsync(dposition, 0, size_t(positions) * row, stream));
    if (t * h > 0) {
      embedding_position_grad_kernel<<<blocks_for(t * h), kThreads, 0, stream>>>(dy, dposition, n, t, h);
      DEFTNN_CUDA_CHECK_LAUNCH();
    }
  }
  if (dtype) {
    DEFTNN_CUDA_CHECK(cudaMemsetAsync(dtype, 0, size_t(types) * row, stream));
    if (tokens > 0 && h > 0) {
      if (type_ids.f32 || type_ids.i32)
        embedding_table_grad_kernel<<<blocks_for(h), kThreads, 0, stream>>>(type_ids, dy, dtype, tokens, h);
      else
        embedding_type0_grad_kernel<<<blocks_for(h), kThreads, 0, stream>>>(dy, dtype, tokens, h);
      DEFTNN_CUDA_CHECK_LAUNCH();
    }
  }
}

}  // namespace deftnn::kernels
