#include "bench/net_report.h"

#include <fmt/format.h>

#include <cctype>

#include "core/error.h"

namespace deftnn::bench {

// ---------------------------------------------------------------------------
// Reporting

namespace {

double tflops(int64_t flops, double ms) { return ms > 0 ? double(flops) / (ms * 1e-3) / 1e12 : 0; }

nlohmann::json run_json(const NetRun& run, const NetRun* baseline) {
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < run.layers.size(); ++i) {
    const LayerResult& l = run.layers[i];
    nlohmann::json j = {{"name", l.name},
                        {"type", l.type},
                        {"out_shape", l.out_shape},
                        {"flops", l.flops},
                        {"time", to_json(l.time)},
                        {"pct_of_layer_sum", run.layer_sum.median_ms > 0 ? 100.0 * l.time.median_ms / run.layer_sum.median_ms : 0.0},
                        {"kernels", to_json(l.kernels)}};
    if (l.gemm) {
      j["gemm"] = {{"M", l.gemm->M}, {"N", l.gemm->N}, {"K", l.gemm->K}, {"groups", l.gemm->groups}};
      j["backend"] = l.backend;
      j["format"] = l.format;
      j["tflops"] = tflops(l.flops, l.time.median_ms);
    } else {
      j["gemm"] = nullptr;
    }
    if (baseline && i < baseline->layers.size() && baseline->layers[i].name == l.name) {
      const LayerResult& b = baseline->layers[i];
      j["speedup"] = l.time.median_ms > 0 ? b.time.median_ms / l.time.median_ms : 0.0;
      // SVE density: the GEMM's kept K against the baseline's K.
      if (l.gemm && b.gemm && b.gemm->K > 0) j["k_density"] = double(l.gemm->K) / double(b.gemm->K);
    }
    layers.push_back(std::move(j));
  }
  nlohmann::json out = {{"tag", run.tag},
                        {"config", {{"backend", run.config.backend}, {"formats", run.config.formats}}},
                        {"total", to_json(run.total)},
                        {"total_method", run.total_method},
                        {"layer_sum", to_json(run.layer_sum)},
                        {"layers", layers}};
  out["graph_error"] = run.graph_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.graph_error);
  out["kernel_names_error"] =
      run.kernel_names_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.kernel_names_error);
  if (baseline) out["speedup"] = run.total.median_ms > 0 ? baseline->total.median_ms / run.total.median_ms : 0.0;
  return out;
}

std::string sanitize(std::string s) {
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  return s;
}

}  // namespace

nlohmann::json report_json(const std::vector<NetRun>& runs, const NetBenchOptions& opt, const nlohmann::json& env,
                           const nlohmann::json& extra) {
  DEFTNN_CHECK(!runs.empty() && runs.size() <= 2, "a report holds one run or a baseline and a candidate");
  nlohmann::json j;
  j["schema"] = "deftnn.bench.net/1";
  j["model"] = runs[0].model;
  j["batch"] = runs[0].batch;
  j["env"] = env;
  j["timer"] = {{"warmup", opt.timer.warmup},
                {"reps", opt.timer.reps},
                {"flush_l2", opt.timer.flush_l2},
                {"graph", opt.graph},
                {"input_seed", opt.seed},
                {"compare_interleaved", runs.size() == 2}};
  j["runs"] = nlohmann::json::array();
  j["runs"].push_back(run_json(runs[0], nullptr));
  if (runs.size() == 2) {
    j["runs"].push_back(run_json(runs[1], &runs[0]));
    j["speedup"] = j["runs"][1]["speedup"];
  }
  for (auto& [k, v] : extra.items()) j[k] = v;
  return j;
}

std::string report_file_name(const std::string& model, int64_t batch, const std::string& tag,
                             const std::string& stamp) {
  return fmt::format("net-{}-b{}-{}-{}.json", sanitize(model), batch, sanitize(tag), stamp);
}

std::string format_table(const NetRun& run, const NetRun* baseline) {
  std::string s = fmt::format("{} batch {}  [{}]\n", run.model, run.batch, run.tag);
  s += fmt::format("{:<10} {:<9} {:<22} {:>20} {:>10} {:>6} {:>8}", "layer", "type", "output", "GEMM M/N/K",
                   "ms (med)", "%", "TFLOP/s");
  if (baseline) s += fmt::format(" {:>8}", "speedup");
  s += "\n";
  for (size_t i = 0; i < run.layers.size(); ++i) {
    const LayerResult& l = run.layers[i];
    std::string g = l.gemm ? fmt::format("{}/{}/{}{}", l.gemm->M, l.gemm->N, l.gemm->K,
                                         l.gemm->groups > 1 ? fmt::format(" x{}", l.gemm->groups) : "")
                           : "";
    double pct = run.layer_sum.median_ms > 0 ? 100.0 * l.time.median_ms / run.layer_sum.median_ms : 0;
    std::string tf = l.gemm ? fmt::format("{:.2f}", tflops(l.flops, l.time.median_ms)) : "";
    s += fmt::format("{:<10} {:<9} {:<22} {:>20} {:>10.4f} {:>6.1f} {:>8}", l.name, l.type, shape_str(l.out_shape), g,
                     l.time.median_ms, pct, tf);
    if (baseline && i < baseline->layers.size() && l.time.median_ms > 0)
      s += fmt::format(" {:>7.2f}x", baseline->layers[i].time.median_ms / l.time.median_ms);
    s += "\n";
  }
  s += fmt::format("{:<10} {:<9} {:<22} {:>20} {:>10.4f}   (sum of layers, eager; p90 {:.4f})\n", "sum", "", "", "",
                   run.layer_sum.median_ms, run.layer_sum.p90_ms);
  s += fmt::format("{:<10} {:<9} {:<22} {:>20} {:>10.4f}   ({}; min {:.4f}, p90 {:.4f})", "total", "", "", "",
                   run.total.median_ms, run.total_method, run.total.min_ms, run.total.p90_ms);
  if (baseline && run.total.median_ms > 0)
    s += fmt::format("  speedup {:.3f}x", baseline->total.median_ms / run.total.median_ms);
  s += "\n";
  if (!run.graph_error.empty()) s += fmt::format("note: no CUDA graph: {}\n", run.graph_error);
  return s;
}

}  // namespace deftnn::bench
