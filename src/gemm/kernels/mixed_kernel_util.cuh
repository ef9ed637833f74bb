// Device pieces of the mixed-input GEMM kernel (kernels/mixed_gemm.cu): the streaming weight
// load, the bf16 MMA, a word of a 16-byte chunk, and the dispatch from a
// WeightFormat to its unpack functor (gemm/mixed/mixed_layout.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/error.h"
#include "gemm/mixed/mixed_format.h"
#include "gemm/mixed/mixed_layout.h"

namespace deftnn::mixed::detail {

// 16 bytes of weights, read once: no L1 allocation (they would only evict X).
__device__ __forceinline__ uint4 ldg_stream(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}

// c (m16 x n8, fp32) += a (m16 x k16, bf16, row) * b (k16 x n8, bf16, col).
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t word_of(const uint4& v, int j) {
  return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

// Calls fn.template operator()<U>() with the unpack functor of format f.
template <class Fn>
void dispatch(const WeightFormat& f, Fn&& fn) {
  switch (f.kind) {
    case WeightKind::Int8: return fn.template operator()<UnpackInt8>();
    case WeightKind::FP8E4M3: return fn.template operator()<UnpackE4M3>();
    case WeightKind::Int4: return fn.template operator()<UnpackInt4>();
    case WeightKind::FP4E2M1: return fn.template operator()<UnpackE2M1>();
    case WeightKind::Deft8:
      switch (f.exp_bits) {
        case 1: return fn.template operator()<UnpackDeft8<1>>();
        case 2: return fn.template operator()<UnpackDeft8<2>>();
        case 3: return fn.template operator()<UnpackDeft8<3>>();
        case 4: return fn.template operator()<UnpackDeft8<4>>();
        case 5: return fn.template operator()<UnpackDeft8<5>>();
        case 6: return fn.template operator()<UnpackDeft8<6>>();
        case 7: return fn.template operator()<UnpackDeft8<7>>();
      }
  }
  DEFTNN_FAIL("mixed_gemm: no kernel for format {}", f.name());
}

}  // namespace deftnn::mixed::detail
