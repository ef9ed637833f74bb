// `deftnn bench gemm`: times every fission GEMM variant beside cuBLAS on the
// paper's AlexNet GEMM shapes (and any shape given), and writes
// bench/results/gemm-*.json. See docs/fission.md for the method.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace deftnn {

struct GemmShape {
  std::string name;  // "conv2" or "custom"
  int64_t M = 0, N = 0, K = 0;
  int batch = 0;
};

struct GemmBenchOptions {
  std::vector<int> batches = {1, 16, 128};
  std::vector<GemmShape> extra;  // from --m --n --k
  bool alexnet = true;
  // Variant names: "cublas", "cublas-tf32", "cublas-bf16", a format name
  // (on chip), "offchip-<format>", "h2" (half2 compute).
  std::vector<std::string> variants;
  int reps = 30;
  int warmup = 5;
  std::string out;  // JSON path ("" = bench/results/gemm-<date>.json)
};

std::vector<std::string> default_gemm_variants();
// The paper's AlexNet GEMMs at a batch: W[M, K] x X[K, cols * batch].
std::vector<GemmShape> alexnet_gemm_shapes(int batch);
// Runs everything and writes the JSON; returns its path.
std::string run_gemm_bench(const GemmBenchOptions& opts);

// CUDA helpers (gemm_bench.cu).
double measure_ffma_peak_tflops();
void f32_to_bf16_device(const float* in, void* out, size_t n, void* stream);

}  // namespace deftnn
