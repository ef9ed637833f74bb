// The GPU's ceilings for the roofline, measured in the run that places the
// layers under them (`deftnn bench --roofline`, docs/bottlenecks.md):
//   HBM        a read kernel over, and a device-to-device copy of, buffers of
//              at least 4 x L2 (so that neither is served by the L2); median of
//              the repetitions; the ceiling is the larger of the two rates
//   compute    large square GEMMs (n = 8192): cuBLAS SGEMM (fp32 FFMA, the
//              math mode the baseline runs), cuBLAS with TF32, cuBLASLt bf16,
//              fp16 and fp8 e4m3 (TN, fp32 accumulate and output, as the
//              engine's cuBLASLt backend calls them); also the FFMA probe of
//              `bench gemm` (the issue-rate peak, above what SGEMM reaches)
//   launch     the per-layer time of a layer that launches one empty kernel,
//              timed as the benchmark times layers (an event between
//              consecutive layers): no layer can take less
// CUDA only: without a GPU measure_ceilings throws, saying why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace deftnn {
class Context;
}

namespace deftnn::bench {

struct CeilingOptions {
  int64_t gemm_n = 8192;  // M = N = K of the compute ceilings' GEMMs
  int warmup = 3, reps = 10;
  int launch_segments = 32, launch_reps = 20;  // empty-kernel "layers" per pass, passes
  // Each half of the HBM buffer: max(hbm_l2_multiple x L2, hbm_min_half_bytes).
  // Below 2 x L2 the figure is the L2's, not HBM's: tests only.
  int hbm_l2_multiple = 4;
  size_t hbm_min_half_bytes = size_t(256) << 20;
};

struct Ceilings {
  double hbm_read_bytes_per_s = 0, hbm_copy_bytes_per_s = 0;  // copy: bytes read + bytes written
  double dram_theoretical_bytes_per_s = 0;                    // memory clock x bus width (context only)
  size_t hbm_buffer_bytes = 0;
  // FLOP/s; 0 when not measured (the reason in *_error)
  double fp32_flops = 0, ffma_probe_flops = 0, tf32_flops = 0, bf16_flops = 0, fp16_flops = 0, fp8_flops = 0;
  std::string fp8_error;  // cuBLASLt has no fp8 kernel on this GPU (before Hopper / Ada)
  int64_t gemm_n = 0;
  double launch_floor_ms = 0;
  double hbm_bytes_per_s() const { return hbm_read_bytes_per_s > hbm_copy_bytes_per_s ? hbm_read_bytes_per_s : hbm_copy_bytes_per_s; }
  // The peak of the arithmetic a layer runs: "fp32" | "tf32" | "bf16" | "fp16" | "fp8e4m3"; 0 when unknown.
  double compute_flops(const std::string& compute) const;
};

nlohmann::json to_json(const Ceilings& c);
Ceilings ceilings_from_json(const nlohmann::json& j);

Ceilings measure_ceilings(Context& ctx, const CeilingOptions& opt = {});

}  // namespace deftnn::bench
