// What a network benchmark measured, and its two renderings: the JSON report
// (schema in docs/benchmarking.md) and the table printed by `deftnn bench`.
// Kept apart from net_bench.h so that reports can be built and tested without
// a Net.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/kernel_names.h"
#include "bench/timer.h"
#include "core/tensor.h"
#include "layers/layer.h"

namespace deftnn::bench {

// How the GEMM layers of a benchmarked net run.
struct NetConfig {
  std::string tag;  // names the configuration in tables and file names
  // Backend name for every GEMM layer: a gemm_backend_name() ("cublas",
  // "fission", "cublas-tf32", ...), "auto", or "cudnn" (convolutions through
  // cuDNN fp32, fully connected layers through cuBLAS); "" leaves the layers
  // as loaded.
  std::string backend;
  // Fission formats: "" (as loaded), one format for every GEMM layer
  // ("deft16"), or per layer ("conv1=deft16,fc6=deft8", others as loaded).
  std::string formats;
};

struct NetBenchOptions {
  int64_t batch = 1;
  TimerOptions timer{10, 50, true};
  bool graph = true;         // whole pass as a CUDA graph replay (CUDA only)
  bool kernel_names = true;  // CUPTI, one untimed pass (CUDA only)
  uint64_t seed = 1;         // input values
};

struct LayerResult {
  std::string name, type;
  Shape out_shape;
  std::optional<GemmShape> gemm;  // for conv and linear layers
  int64_t flops = 0;              // 2 x multiply-adds of the pass
  std::string backend, format;    // resolved GEMM backend ("cudnn:<algo>" for cuDNN convs) and format
  TimingStats time;
  std::vector<KernelRecord> kernels;
};

struct NetRun {
  std::string model, tag;
  int64_t batch = 0;
  NetConfig config;
  std::vector<LayerResult> layers;
  TimingStats layer_sum;  // per rep: the sum of the per-layer times (eager, with events between layers)
  TimingStats total;      // the whole pass; see total_method
  std::string total_method;  // "cuda-graph", "cuda-events" (eager; graph capture failed or off), "steady-clock"
  std::string graph_error;   // why the graph was not used, when it was wanted
  std::string kernel_names_error;
};

// The JSON report (docs/benchmarking.md describes the schema).
// runs: one, or baseline then candidate (a comparison).
nlohmann::json report_json(const std::vector<NetRun>& runs, const NetBenchOptions& opt,
                           const nlohmann::json& env, const nlohmann::json& extra = nlohmann::json::object());
// "net-<model>-b<batch>-<tag>-<YYYYmmddTHHMMSSZ>.json".
std::string report_file_name(const std::string& model, int64_t batch, const std::string& tag,
                             const std::string& stamp);
// The human-readable table of a run; with a baseline, a speedup column too.
std::string format_table(const NetRun& run, const NetRun* baseline = nullptr);

}  // namespace deftnn::bench
