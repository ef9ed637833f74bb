// CUDA kernels of the correlation matrix: the centring and fix-up around the
// cuBLAS product. Their CPU references are the loops in correlation.cpp.
#include <cstdint>

#include "core/cuda_check.h"
#include "sve/correlation_kernels.h"

namespace deftnn::sve::cuda {

namespace {

constexpr int kThreads = 256;               // threads per block for every kernel here
constexpr int64_t kMaxBlocks = 65535 * 16;  // 1-D grid cap (grid-stride beyond)

cudaStream_t stream_of(Context& ctx) { return reinterpret_cast<cudaStream_t>(ctx.stream()); }

int64_t blocks_for(int64_t work) {
  int64_t b = (work + kThreads - 1) / kThreads;
  return b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b);
}

// One thread per column k; reads along m are coalesced across the warp.
__global__ void centre_columns_kernel(const float* __restrict__ w, int64_t M, int64_t K, float* __restrict__ z,
                                      int32_t* __restrict__ constant) {
  int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= K) return;
  const float first = w[k];
  bool same = true;
  double s = 0;
  for (int64_t m = 0; m < M; ++m) {
    float v = w[m * K + k];
    s += v;
    same = same && v == first;
  }
  const double mean = s / double(M);
  double ss = 0;
  for (int64_t m = 0; m < M; ++m) {
    double d = double(w[m * K + k]) - mean;
    ss += d * d;
  }
  const bool is_const = same || ss == 0.0;
  constant[k] = is_const;
  const double norm = sqrt(ss);
  for (int64_t m = 0; m < M; ++m) z[m * K + k] = is_const ? 0.f : float((double(w[m * K + k]) - mean) / norm);
}

// Thread (i, j), i <= j: clamp, set the diagonal and constant pairs to 1, and
// copy the value to (j, i) so rho is exactly symmetric. Threads below the
// diagonal neither read nor write.
__global__ void fix_correlation_kernel(float* rho, int64_t K, const int32_t* __restrict__ constant) {
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < K * K;
       idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t i = idx / K, j = idx % K;
    if (j < i) continue;
    float r = fminf(fmaxf(rho[idx], -1.f), 1.f);
    if (i == j || (constant[i] && constant[j])) r = 1.f;
    rho[idx] = r;
    rho[j * K + i] = r;
  }
}

}  // namespace

void centre_columns(Context& ctx, const float* w, int64_t M, int64_t K, float* z, int32_t* constant) {
  centre_columns_kernel<<<unsigned((K + kThreads - 1) / kThreads), kThreads, 0, stream_of(ctx)>>>(w, M, K, z,
                                                                                                 constant);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void fix_correlation(Context& ctx, float* rho, int64_t K, const int32_t* constant) {
  fix_correlation_kernel<<<unsigned(blocks_for(K * K)), kThreads, 0, stream_of(ctx)>>>(rho, K, constant);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::sve::cuda
