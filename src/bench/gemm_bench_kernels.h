// CUDA side of the GEMM benchmark (gemm_bench.cu), plain-typed: the FFMA-peak
// probe and the bf16 conversion for the cuBLAS BF16 context row. Without CUDA
// they throw (gemm_bench_nocuda.cpp).
#pragma once

#include <cstddef>

namespace deftnn {

// The FFMA probe: `blocks` blocks of kFfmaProbeThreads threads, each running 8
// independent FFMA chains for kFfmaProbeIters rounds (16 FLOP per round),
// queued on `stream` (a cudaStream_t). `out` is one device float.
inline constexpr int kFfmaProbeThreads = 256;
inline constexpr int kFfmaProbeIters = 1 << 14;
inline constexpr double kFfmaProbeFlopPerThread = double(kFfmaProbeIters) * 8 * 2;
void launch_ffma_probe(float* out, int blocks, void* stream);

// out[0..n) (bf16) = in[0..n) rounded to nearest even, queued on `stream`.
void f32_to_bf16_device(const float* in, void* out, size_t n, void* stream);

}  // namespace deftnn
