// Every layer placed on the GPU's roofline (`deftnn bench --roofline`,
// docs/bottlenecks.md): its counted FLOPs and bytes (layer_traffic.h), its
// measured per-layer median time (bench_net) and the ceilings measured in the
// same run (ceilings.h) give achieved FLOP/s, bytes/s, arithmetic intensity,
// the time the roofline allows and what binds. CPU code: reports can be made
// and tested without a GPU.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/ceilings.h"
#include "bench/layer_traffic.h"
#include "bench/net_report.h"

namespace deftnn::bench {

// A layer is launch-bound when its time is at most this many launch floors
// (one floor per kernel it launched): it could not get much faster by moving
// fewer bytes or doing fewer FLOPs.
inline constexpr double kLaunchBoundFactor = 1.5;

struct Placement {
  // What binds, in this order: "fused" / "skipped" (no work of its own),
  // "untimed", "launch" (time <= kLaunchBoundFactor x the launch floor x its
  // kernels), "non-GEMM" (pools, LRN, softmax, ...), else the roofline's
  // binding ceiling for a GEMM: "HBM", "tensor-core" (tf32/bf16/fp16/fp8) or
  // "FP32 FMA".
  std::string label;
  std::string bound;  // the roofline's binding ceiling: "hbm" | "compute" | "" (not placed)
  double time_ms = 0;
  int64_t kernels = 0;  // launches the CUPTI pass saw (0: not recorded; counted as 1 for the floor)
  double achieved_flops_per_s = 0, achieved_bytes_per_s = 0, engine_bytes_per_s = 0;
  double intensity = 0, engine_intensity = 0;  // FLOP per compulsory byte, per engine byte
  double compute_ceiling = 0;                  // FLOP/s of the layer's arithmetic (0: unknown)
  double memory_ms = 0, engine_memory_ms = 0, compute_ms = 0;  // each ceiling's least time
  double roofline_ms = 0;     // max(memory_ms, compute_ms): the least time the roofline allows
  double pct_of_bound = 0;    // 100 x roofline_ms / time_ms: how close to the binding ceiling
  double launch_floor_ms = 0; // the floor x max(kernels, 1)
};

Placement place_layer(const LayerTraffic& t, double time_ms, int64_t kernels, const Ceilings& c);

// One entry per layer: name, type, step, gemm, the counts (to_json of
// LayerTraffic) and, with ceilings and a timed run, the placement. Without
// `run` or `c` (the CPU: nothing to place against) the counts alone.
nlohmann::json roofline_layers_json(const std::vector<LayerTraffic>& traffic, const NetRun* run, const Ceilings* c);

// The printed table: counts per layer and, when placed, time, rates, the
// share of the binding ceiling and the label.
std::string format_roofline_table(const std::vector<LayerTraffic>& traffic, const NetRun* run, const Ceilings* c);

// The report of `deftnn bench --roofline` (schema "deftnn.bench.roofline/1",
// docs/bottlenecks.md): with a timed run and ceilings, the network report of
// that run (report_json) plus "ceilings" and "roofline" (the layers placed);
// without (`skipped` says why: no GPU), model, batch, tag, env, "ceilings":
// null and the counted layers alone.
nlohmann::json roofline_report_json(const std::vector<LayerTraffic>& traffic, const NetRun* run, const Ceilings* c,
                                    const std::string& model, int64_t batch, const NetConfig& cfg,
                                    const NetBenchOptions& opt, const nlohmann::json& env, const nlohmann::json& extra,
                                    const std::string& skipped);
// "roofline-<model>-b<batch>-<tag>-<stamp>.json".
std::string roofline_file_name(const std::string& model, int64_t batch, const std::string& tag, const std::string& stamp);

}  // namespace deftnn::bench
