// CUDA side of the roofline ceilings (ceilings.cu), plain-typed so that the
// host code (ceilings.cpp) needs no CUDA headers for them. Without CUDA they
// throw (ceilings_nocuda.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace deftnn::bench {

// Reads n4 float4 values from p (device) with `blocks` blocks of 256
// threads, grid-stride, and keeps the sum alive through out[0] (device):
// the HBM read ceiling, queued on `stream` (a cudaStream_t).
void launch_hbm_read(const void* p, size_t n4, float* out, int blocks, void* stream);

// One kernel that does nothing: the per-layer launch floor.
void launch_empty_kernel(void* stream);

// Element types of fill_uniform.
enum class FillType : int { F32, BF16, F16, FP8E4M3 };
// p[0..n) = pseudo-random values in [-1, 1) of type t (never all zero), from
// `seed`; queued on `stream`.
void fill_uniform(void* p, size_t n, FillType t, uint32_t seed, void* stream);

}  // namespace deftnn::bench
