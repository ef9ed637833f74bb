// CUDA kernels of the run-time SVE input transforms. Their CPU references are
// the loops in input_transform.cpp.
#include <cstdint>

#include "core/cuda_check.h"
#include "synapse/transform_kernels.h"

namespace deftnn::sve::cuda {

namespace {

constexpr int kThreads = 256;         // threads per block for every kernel here
constexpr int64_t kMaxChunks = 1024;  // grid.y cap for the row kernels (they grid-stride)

cudaStream_t stream_of(Context& ctx) { return reinterpret_cast<cudaStream_t>(ctx.stream()); }

// Block row blockIdx.x handles kept row kept[blockIdx.x]; blockIdx.y strides over n.
template <bool kVec4>
__global__ void copy_rows_kernel(const float* __restrict__ x, int64_t n, int64_t ldx, const int32_t* __restrict__ kept,
                                 float* __restrict__ y, int64_t ldy) {
  const float* src = x + int64_t(kept[blockIdx.x]) * ldx;
  float* dst = y + int64_t(blockIdx.x) * ldy;
  const int64_t stride = int64_t(gridDim.y) * blockDim.x;
  int64_t i = int64_t(blockIdx.y) * blockDim.x + threadIdx.x;
  if (kVec4) {
    const float4* s4 = reinterpret_cast<const float4*>(src);
    float4* d4 = reinterpret_cast<float4*>(dst);
    for (; i < n / 4; i += stride) d4[i] = s4[i];
  } else {
    for (; i < n; i += stride) dst[i] = src[i];
  }
}

template <bool kVec4>
__global__ void swap_rows_kernel(float* __restrict__ x, int64_t n, int64_t ldx, const int32_t* __restrict__ pairs) {
  float* a = x + int64_t(pairs[2 * blockIdx.x]) * ldx;
  float* b = x + int64_t(pairs[2 * blockIdx.x + 1]) * ldx;
  const int64_t stride = int64_t(gridDim.y) * blockDim.x;
  int64_t i = int64_t(blockIdx.y) * blockDim.x + threadIdx.x;
  if (kVec4) {
    float4* a4 = reinterpret_cast<float4*>(a);
    float4* b4 = reinterpret_cast<float4*>(b);
    for (; i < n / 4; i += stride) {
      float4 t = a4[i];
      a4[i] = b4[i];
      b4[i] = t;
    }
  } else {
    for (; i < n; i += stride) {
      float t = a[i];
      a[i] = b[i];
      b[i] = t;
    }
  }
}

// Block (x, y): row y (grid-strided past the grid's y limit), kept columns
// j = x * blockDim + t: y[r, j] = x[r, kept[j]]. No divisions; kept[] reads coalesce.
__global__ void copy_cols_kernel(const float* __restrict__ x, int64_t rows, int64_t ldx,
                                 const int32_t* __restrict__ kept, int64_t kept_k, float* __restrict__ y, int64_t ldy) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= kept_k) return;
  const int64_t src = kept[j];
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) y[r * ldy + j] = x[r * ldx + src];
}

// Block (x, y): row y (grid-strided), pair p = x * blockDim + t.
__global__ void swap_cols_kernel(float* __restrict__ x, int64_t rows, int64_t ldx, const int32_t* __restrict__ pairs,
                                 int64_t num_pairs) {
  const int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= num_pairs) return;
  const int64_t a = pairs[2 * p], b = pairs[2 * p + 1];
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    float* row = x + r * ldx;
    float t = row[a];
    row[a] = row[b];
    row[b] = t;
  }
}

dim3 col_grid(int64_t rows, int64_t count) {
  int64_t gy = rows < 1 ? 1 : (rows > 65535 ? 65535 : rows);
  return dim3(unsigned((count + kThreads - 1) / kThreads), unsigned(gy));
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

dim3 row_grid(int64_t rows, int64_t n_units) {
  int64_t chunks = (n_units + kThreads - 1) / kThreads;
  chunks = chunks < 1 ? 1 : (chunks > kMaxChunks ? kMaxChunks : chunks);
  return dim3(unsigned(rows), unsigned(chunks));
}

}  // namespace

void copy_rows(Context& ctx, const float* x, int64_t n, int64_t ldx, const int32_t* kept, int64_t kept_k, float* y,
               int64_t ldy) {
  DEFTNN_CHECK(kept_k <= 0x7fffffff, "copy_rows: {} rows exceed the grid", kept_k);
  const bool vec = n % 4 == 0 && ldx % 4 == 0 && ldy % 4 == 0 && aligned16(x) && aligned16(y);
  if (vec)
    copy_rows_kernel<true><<<row_grid(kept_k, n / 4), kThreads, 0, stream_of(ctx)>>>(x, n, ldx, kept, y, ldy);
  else
    copy_rows_kernel<false><<<row_grid(kept_k, n), kThreads, 0, stream_of(ctx)>>>(x, n, ldx, kept, y, ldy);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void swap_rows(Context& ctx, float* x, int64_t n, int64_t ldx, const int32_t* pairs, int64_t num_pairs) {
  DEFTNN_CHECK(num_pairs <= 0x7fffffff, "swap_rows: {} pairs exceed the grid", num_pairs);
  const bool vec = n % 4 == 0 && ldx % 4 == 0 && aligned16(x);
  if (vec)
    swap_rows_kernel<true><<<row_grid(num_pairs, n / 4), kThreads, 0, stream_of(ctx)>>>(x, n, ldx, pairs);
  else
    swap_rows_kernel<false><<<row_grid(num_pairs, n), kThreads, 0, stream_of(ctx)>>>(x, n, ldx, pairs);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void copy_cols(Context& ctx, const float* x, int64_t rows, int64_t ldx, const int32_t* kept, int64_t kept_k, float* y,
               int64_t ldy) {
  copy_cols_kernel<<<col_grid(rows, kept_k), kThreads, 0, stream_of(ctx)>>>(x, rows, ldx, kept, kept_k, y, ldy);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void swap_cols(Context& ctx, float* x, int64_t rows, int64_t ldx, const int32_t* pairs, int64_t num_pairs) {
  swap_cols_kernel<<<col_grid(rows, num_pairs), kThreads, 0, stream_of(ctx)>>>(x, rows, ldx, pairs, num_pairs);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::sve::cuda
