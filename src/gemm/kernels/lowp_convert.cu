// fp32 -> bf16 / fp16 / fp8 e4m3 for the CublasLt backend (see lowp_convert.h;
// the rounding rules are gemm/lowp.h's, and the CPU emulation matches them bit
// for bit).
#include <algorithm>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "gemm/kernels/lowp_convert.h"

namespace deftnn {

namespace {

constexpr int kAmaxThreads = 256;
constexpr int kAmaxMaxBlocks = 2048;  // blocks of one amax launch (x * y)
constexpr int kConvertThreads = 256;
constexpr int kTile = 32;      // transpose tile of the strided conversion (kTile x kTile)
constexpr int kTileRows = 8;   // threads per tile column: each thread handles kTile / kTileRows elements
constexpr float kE4M3Max = 448.f;  // gemm/lowp.h's kFp8E4M3Max

// Non-negative floats order like their bit patterns, so atomicMax on the int
// view is a float max. The host passes the unit-stride dimension as `inner`
// (threads of a block walk it: coalesced), the other as `outer` (grid.y walks
// it): no per-element 64-bit division. (The flat version with `i / cols` per
// element ran at an eighth of HBM bandwidth: 1.5 ms for CaffeNet conv1's
// 363 x 387200 im2col matrix at batch 128 on the H100.)
__global__ void amax_kernel(const float* __restrict__ x, int64_t outer, int64_t inner, int64_t os, int64_t is,
                            float* amax) {
  float m = 0.f;
  const int64_t i0 = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, di = int64_t(gridDim.x) * blockDim.x;
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    const float* row = x + o * os;
    for (int64_t i = i0; i < inner; i += di) m = fmaxf(m, fabsf(row[i * is]));  // fmaxf drops NaN
  }
  for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  if ((threadIdx.x & 31) == 0 && m > 0.f) atomicMax(reinterpret_cast<int*>(amax), __float_as_int(m));
}

__device__ __forceinline__ float fp8_scale_of(const float* amax) {
  const float a = *amax;
  return (a > 0.f && isfinite(a)) ? __fdiv_rn(a, kE4M3Max) : 1.f;
}

template <class T>
__device__ __forceinline__ T to_lowp(float v);
template <>
__device__ __forceinline__ __nv_bfloat16 to_lowp<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half to_lowp<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_fp8_storage_t to_lowp<__nv_fp8_storage_t>(float v) {
  return __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
}

template <class T>
__device__ __forceinline__ T zero_lowp() {
  return to_lowp<T>(0.f);
}

// Rows contiguous in the source (cs == 1): one thread per output element,
// reads and writes coalesced along c.
template <class T, bool SCALED>
__global__ void convert_rows_kernel(const float* __restrict__ x, int64_t rows, int64_t cols, int64_t rs,
                                    const float* amax, float* scale_out, T* __restrict__ out, int64_t rows_out,
                                    int64_t ld_out) {
  const float s = SCALED ? fp8_scale_of(amax) : 1.f;
  if (SCALED && scale_out && blockIdx.x == 0 && threadIdx.x == 0) *scale_out = s;
  const int64_t n = rows_out * ld_out;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / ld_out, c = i - r * ld_out;
    if (r < rows && c < cols) {
      const float v = x[r * rs + c];
      out[i] = to_lowp<T>(SCALED ? __fdiv_rn(v, s) : v);
    } else {
      out[i] = zero_lowp<T>();
    }
  }
}

// Any strides (here: cs != 1, typically rs == 1: a conv's column matrix read
// as its transpose): a kTile x kTile tile through shared memory, loads
// coalesced along r, stores along c.
template <class T, bool SCALED>
__global__ void convert_tiled_kernel(const float* __restrict__ x, int64_t rows, int64_t cols, int64_t rs, int64_t cs,
                                     const float* amax, float* scale_out, T* __restrict__ out, int64_t rows_out,
                                     int64_t ld_out) {
  __shared__ float tile[kTile][kTile + 1];  // (c, r) of the source tile; +1 against bank conflicts
  const float s = SCALED ? fp8_scale_of(amax) : 1.f;
  if (SCALED && scale_out && blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0 && threadIdx.y == 0)
    *scale_out = s;
  const int64_t r0 = int64_t(blockIdx.y) * kTile, c0 = int64_t(blockIdx.x) * kTile;
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {
    const int64_t r = r0 + threadIdx.x, c = c0 + j;
    tile[j][threadIdx.x] = (r < rows && c < cols) ? x[r * rs + c * cs] : 0.f;
  }
  __syncthreads();
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {
    const int64_t r = r0 + j, c = c0 + threadIdx.x;
    if (r >= rows_out || c >= ld_out) continue;
    const float v = tile[threadIdx.x][j];
    out[r * ld_out + c] = (r < rows && c < cols) ? to_lowp<T>(SCALED ? __fdiv_rn(v, s) : v) : zero_lowp<T>();
  }
}

template <class T, bool SCALED>
void launch_convert(const float* x, int64_t rows, int64_t cols, int64_t rs, int64_t cs, const float* amax,
                    float* scale, void* out, int64_t rows_out, int64_t ld_out, cudaStream_t st) {
  T* o = static_cast<T*>(out);
  if (cs == 1) {
    const int64_t n = rows_out * ld_out;
    const unsigned blocks = unsigned(std::min<int64_t>((n + kConvertThreads - 1) / kConvertThreads, 1 << 16));
    convert_rows_kernel<T, SCALED><<<blocks, kConvertThreads, 0, st>>>(x, rows, cols, rs, amax, scale, o, rows_out,
                                                                       ld_out);
  } else {
    const dim3 grid(unsigned((ld_out + kTile - 1) / kTile), unsigned((rows_out + kTile - 1) / kTile));
    DEFTNN_CHECK(grid.y <= 65535u, "lowp conversion: {} rows exceed the launcher's grid limit", rows_out);
    convert_tiled_kernel<T, SCALED><<<grid, dim3(kTile, kTileRows), 0, st>>>(x, rows, cols, rs, cs, amax, scale, o,
                                                                             rows_out, ld_out);
  }
  DEFTNN_CUDA_CHECK_LAUNCH();
}

__global__ void copy_out_kernel(const float* __restrict__ d, int64_t ldd, float* __restrict__ c, int64_t ldc,
                                int64_t m, int64_t n, float beta) {
  const int64_t total = m * n;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i / m, r = i - j * m;
    float* dst = c + r + j * ldc;
    const float v = d[r + j * ldd];
    *dst = beta == 0.f ? v : v + beta * *dst;
  }
}

}  // namespace

void lowp_amax_device(const float* x, int64_t rows, int64_t cols, int64_t rs, int64_t cs, float* amax, void* stream) {
  cudaStream_t st = cudaStream_t(stream);
  DEFTNN_CUDA_CHECK(cudaMemsetAsync(amax, 0, sizeof(float), st));
  const int64_t n = rows * cols;
  if (n == 0) return;
  // inner: the dimension of unit stride (columns unless the rows are), walked by the threads
  const bool by_rows = cs != 1 && rs == 1;
  const int64_t inner = by_rows ? rows : cols, outer = by_rows ? cols : rows;
  const int64_t is = by_rows ? rs : cs, os = by_rows ? cs : rs;
  const int64_t gx = std::min<int64_t>((inner + kAmaxThreads - 1) / kAmaxThreads, kAmaxMaxBlocks);
  const int64_t gy = std::clamp<int64_t>(kAmaxMaxBlocks / gx, 1, std::min<int64_t>(outer, 65535));
  amax_kernel<<<dim3(unsigned(gx), unsigned(gy)), kAmaxThreads, 0, st>>>(x, outer, inner, os, is, amax);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void lowp_convert_device(const float* x, int64_t rows, int64_t cols, int64_t rs, int64_t cs, Precision p,
                         const float* amax, float* scale, void* out, int64_t rows_out, int64_t ld_out, void* stream) {
  DEFTNN_CHECK(rows_out >= rows && ld_out >= cols, "lowp conversion: output ({}, ld {}) smaller than ({}, {})",
               rows_out, ld_out, rows, cols);
  if (rows_out * ld_out == 0) return;
  cudaStream_t st = cudaStream_t(stream);
  switch (p) {
    case Precision::BF16:
      return launch_convert<__nv_bfloat16, false>(x, rows, cols, rs, cs, nullptr, nullptr, out, rows_out, ld_out, st);
    case Precision::FP16:
      return launch_convert<__half, false>(x, rows, cols, rs, cs, nullptr, nullptr, out, rows_out, ld_out, st);
    case Precision::FP8E4M3:
      DEFTNN_CHECK(amax != nullptr, "fp8 conversion without an amax");
      return launch_convert<__nv_fp8_storage_t, true>(x, rows, cols, rs, cs, amax, scale, out, rows_out, ld_out, st);
    case Precision::FP32:
    case Precision::TF32: break;
  }
  DEFTNN_FAIL("lowp conversion to {}: not a tensor-core input precision (bf16, fp16, fp8e4m3)", precision_name(p));
}

void lowp_copy_out_device(const float* d, int64_t ldd, float* c, int64_t ldc, int64_t m, int64_t n, float beta,
                          void* stream) {
  const int64_t total = m * n;
  if (total == 0) return;
  const unsigned blocks = unsigned(std::min<int64_t>((total + kConvertThreads - 1) / kConvertThreads, 1 << 16));
  copy_out_kernel<<<blocks, kConvertThreads, 0, cudaStream_t(stream)>>>(d, ldd, c, ldc, m, n, beta);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn
