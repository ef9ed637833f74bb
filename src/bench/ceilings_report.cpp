// The ceilings as JSON and by arithmetic (ceilings.h); CPU code, so that
// reports can be read and tested without a GPU.
#include <nlohmann/json.hpp>

#include "bench/ceilings.h"
#include "core/error.h"

namespace deftnn::bench {

double Ceilings::compute_flops(const std::string& compute) const {
  if (compute == "fp32") return fp32_flops;
  if (compute == "tf32") return tf32_flops;
  if (compute == "bf16") return bf16_flops;
  if (compute == "fp16") return fp16_flops;
  if (compute == "fp8e4m3") return fp8_flops;
  return 0;
}

nlohmann::json to_json(const Ceilings& c) {
  return {{"hbm_bytes_per_s", c.hbm_bytes_per_s()},
          {"hbm_read_bytes_per_s", c.hbm_read_bytes_per_s},
          {"hbm_copy_bytes_per_s", c.hbm_copy_bytes_per_s},
          {"dram_theoretical_bytes_per_s", c.dram_theoretical_bytes_per_s},
          {"hbm_buffer_bytes", c.hbm_buffer_bytes},
          {"fp32_flops", c.fp32_flops},
          {"ffma_probe_flops", c.ffma_probe_flops},
          {"tf32_flops", c.tf32_flops},
          {"bf16_flops", c.bf16_flops},
          {"fp16_flops", c.fp16_flops},
          {"fp8e4m3_flops", c.fp8_flops},
          {"fp8_error", c.fp8_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.fp8_error)},
          {"gemm_n", c.gemm_n},
          {"launch_floor_ms", c.launch_floor_ms},
          {"method",
           "hbm: max(read kernel, device-to-device copy counting read + write) over >= 4 x L2, median; "
           "compute: n^3 GEMMs (cuBLAS fp32 and TF32, cuBLASLt TN bf16/fp16/fp8e4m3, fp32 accumulate and output), "
           "median; launch floor: median per-layer time of a layer of one empty kernel, events between layers"}};
}

Ceilings ceilings_from_json(const nlohmann::json& j) {
  DEFTNN_CHECK(j.is_object(), "ceilings: expected an object");
  Ceilings c;
  c.hbm_read_bytes_per_s = j.value("hbm_read_bytes_per_s", 0.0);
  c.hbm_copy_bytes_per_s = j.value("hbm_copy_bytes_per_s", 0.0);
  c.dram_theoretical_bytes_per_s = j.value("dram_theoretical_bytes_per_s", 0.0);
  c.hbm_buffer_bytes = j.value("hbm_buffer_bytes", size_t(0));
  c.fp32_flops = j.value("fp32_flops", 0.0);
  c.ffma_probe_flops = j.value("ffma_probe_flops", 0.0);
  c.tf32_flops = j.value("tf32_flops", 0.0);
  c.bf16_flops = j.value("bf16_flops", 0.0);
  c.fp16_flops = j.value("fp16_flops", 0.0);
  c.fp8_flops = j.value("fp8e4m3_flops", 0.0);
  if (j.contains("fp8_error") && j["fp8_error"].is_string()) c.fp8_error = j["fp8_error"];
  c.gemm_n = j.value("gemm_n", int64_t(0));
  c.launch_floor_ms = j.value("launch_floor_ms", 0.0);
  return c;
}

}  // namespace deftnn::bench
