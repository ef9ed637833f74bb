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
  // Variant names: "cublas", "cublas-tf32", "cublas-bf16", "lt-bf16",
  // "lt-fp16", "lt-fp8" (the engine's cuBLASLt backend), a format name (on
  // chip), "offchip-<format>", "h2" (half2 compute).
  std::vector<std::string> variants;
  int reps = 30;
  int warmup = 5;
  std::string out;  // JSON path ("" = bench/results/gemm-<date>.json)
};

std::vector<std::string> default_gemm_variants();
// The paper's AlexNet GEMMs at a batch: W[M, K] x X[K, cols * batch].
std::vector<GemmBenchShape> alexnet_gemm_shapes(int batch);
// Runs everything and writes the JSON; returns its path.
std::string run_gemm_bench(const GemmBenchOptions& opts);

// The FP32 FFMA peak of ctx's GPU in TFLOP/s (bench/gemm_bench_kernels.h's probe).
double measure_ffma_peak_tflops(Context& ctx);

}  // namespace deftnn
