// Kernels of the roofline ceilings (ceilings_kernels.h): the HBM read probe,
// the empty kernel of the launch floor, and the operand fill of the GEMMs.
#include <algorithm>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include "bench/ceilings_kernels.h"
#include "core/cuda_check.h"

namespace deftnn::bench {

namespace {

constexpr int kThreads = 256;

// Four independent float4 loads in flight per thread per round, so that the
// memory system, not the load issue, limits the rate.
__global__ void hbm_read_kernel(const float4* __restrict__ p, size_t n4, float* out) {
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < n4; i += 4 * stride) {
    const float4 a = p[i], b = p[i + stride], c = p[i + 2 * stride], d = p[i + 3 * stride];
    acc.x += a.x + b.x + c.x + d.x;
    acc.y += a.y + b.y + c.y + d.y;
    acc.z += a.z + b.z + c.z + d.z;
    acc.w += a.w + b.w + c.w + d.w;
  }
  for (; i < n4; i += stride) {
    const float4 a = p[i];
    acc.x += a.x, acc.y += a.y, acc.z += a.z, acc.w += a.w;
  }
  const float s = acc.x + acc.y + acc.z + acc.w;
  if (s == 1234567.f) out[0] = s;  // never true for the fill used; keeps the loads
}

__global__ void empty_kernel() {}

__device__ float hash_uniform(size_t i, uint32_t seed) {
  uint32_t x = uint32_t(i) * 2654435761u ^ uint32_t(i >> 32) * 40503u ^ seed * 2246822519u;
  x ^= x >> 15, x *= 2246822519u, x ^= x >> 13, x *= 3266489917u, x ^= x >> 16;
  return float(x >> 8) * (2.f / 16777216.f) - 1.f;  // [-1, 1)
}

template <class T>
__device__ T convert_to(float v);
template <>
__device__ float convert_to<float>(float v) { return v; }
template <>
__device__ __nv_bfloat16 convert_to<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <>
__device__ __half convert_to<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __nv_fp8_e4m3 convert_to<__nv_fp8_e4m3>(float v) { return __nv_fp8_e4m3(v); }

template <class T>
__global__ void fill_kernel(T* p, size_t n, uint32_t seed) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    p[i] = convert_to<T>(hash_uniform(i, seed));
}

template <class T>
void fill(void* p, size_t n, uint32_t seed, cudaStream_t s) {
  const size_t blocks = std::min<size_t>((n + kThreads - 1) / kThreads, 65536);
  fill_kernel<T><<<unsigned(blocks), kThreads, 0, s>>>(static_cast<T*>(p), n, seed);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_hbm_read(const void* p, size_t n4, float* out, int blocks, void* stream) {
  hbm_read_kernel<<<blocks, kThreads, 0, cudaStream_t(stream)>>>(static_cast<const float4*>(p), n4, out);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void launch_empty_kernel(void* stream) {
  empty_kernel<<<1, 32, 0, cudaStream_t(stream)>>>();
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void fill_uniform(void* p, size_t n, FillType t, uint32_t seed, void* stream) {
  if (!n) return;
  const cudaStream_t s = cudaStream_t(stream);
  switch (t) {
    case FillType::F32: return fill<float>(p, n, seed, s);
    case FillType::BF16: return fill<__nv_bfloat16>(p, n, seed, s);
    case FillType::F16: return fill<__half>(p, n, seed, s);
    case FillType::FP8E4M3: return fill<__nv_fp8_e4m3>(p, n, seed, s);
  }
}

}  // namespace deftnn::bench
