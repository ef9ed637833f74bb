// `deftnn bench gemm`: times every fission GEMM variant beside cuBLAS on the
// paper's AlexNet GEMM shapes (and any shape given), and writes
// bench/results/gemm-*.json. See docs/fission.md for the method.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/layer.h"

namespace deftnn {

class Context;

// One benchmarked product: W (M, K) x X (K, N), named for the layer it comes from.
struct GemmBenchShape {
  std::string name;  // "conv2" or "custom"
  GemmShape gemm;    // groups = 1
  int batch = 0;     // images behind N (0: a custom shape)
};

struct GemmBenchOptions {
  std::vector<int> batches = {1, 16, 128};
  std::vector<GemmBenchShape> extra;  // from --m --n --k
  bool alexnet = true;
  // The Llama-7B linear layers W (N_out, K) = 4096x4096, 11008x4096,
  // 4096x11008 at these token counts (the GEMM's N); empty: none.
  std::vector<int> llm_tokens = {1, 16, 64, 128, 512};
  // Variant names: "cublas", "cublas-tf32", "cublas-bf16", "lt-bf16",
  // "lt-fp16", "lt-fp8" (the engine's cuBLASLt backend), a format name
  // (on chip), "offchip-<format>", "h2" (half2 compute), "mix-<weight format>"
  // (the tensor-core mixed-input GEMM, gemm/mixed/mixed_gemm.h: mix-int8,
  // mix-fp8 = mix-fp8e4m3, mix-deft8 = mix-deft8e4, mix-deft8eE, mix-int4,
  // mix-fp4 = mix-fp4e2m1; run only where tokens <= kMixMaxTokens).
  std::vector<std::string> variants;
  int reps = 30;
  int warmup = 5;
  std::string out;  // JSON path ("" = bench/results/gemm-<date>.json)
};

std::vector<std::string> default_gemm_variants();
// Peak DRAM bandwidth of CUDA device `dev` from its memory clock and bus width
// (bytes/s, double data rate): the theoretical figure beside measured ones.
double peak_dram_bytes_per_s(int dev);
// The mixed-input weight format of a "mix-..." variant name; throws
// deftnn::Error listing the known names when it is none. is_mix_variant: the prefix.
bool is_mix_variant(const std::string& v);
std::string mix_format_name(const std::string& v);
inline constexpr int64_t kMixMaxTokens = 4096;
// The Llama-7B linear layers at `tokens`: W[N_out, K] x X[K, tokens].
std::vector<GemmBenchShape> llm_gemm_shapes(int tokens);
// The paper's AlexNet GEMMs at a batch: W[M, K] x X[K, cols * batch].
std::vector<GemmBenchShape> alexnet_gemm_shapes(int batch);
// Runs everything and writes the JSON; returns its path.
std::string run_gemm_bench(const GemmBenchOptions& opts);

// The FP32 FFMA peak of ctx's GPU in TFLOP/s (bench/gemm_bench_kernels.h's probe).
double measure_ffma_peak_tflops(Context& ctx);

}  // namespace deftnn
