#include "bench/roofline.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace deftnn::bench {

namespace {

int64_t kernel_calls(const LayerResult& l) {
  int64_t n = 0;
  for (const KernelRecord& k : l.kernels) n += k.calls;
  return n;
}

void check_matches(const std::vector<LayerTraffic>& traffic, const NetRun& run) {
  DEFTNN_CHECK(traffic.size() == run.layers.size(), "roofline: {} counted layers, {} timed", traffic.size(),
               run.layers.size());
  for (size_t i = 0; i < traffic.size(); ++i)
    DEFTNN_CHECK(traffic[i].name == run.layers[i].name, "roofline: layer {} is '{}' counted, '{}' timed", i,
                 traffic[i].name, run.layers[i].name);
}

}  // namespace

Placement place_layer(const LayerTraffic& t, double time_ms, int64_t kernels, const Ceilings& c) {
  Placement p;
  p.time_ms = time_ms;
  p.kernels = kernels;
  if (t.step != StepKind::Run) {
    p.label = t.step == StepKind::Fused ? "fused" : "skipped";
    return p;
  }
  const double bytes = double(t.compulsory_bytes()), ebytes = double(t.engine_bytes()), flops = double(t.flops);
  p.intensity = bytes > 0 ? flops / bytes : 0;
  p.engine_intensity = ebytes > 0 ? flops / ebytes : 0;
  p.compute_ceiling = c.compute_flops(t.compute);
  const double hbm = c.hbm_bytes_per_s();
  p.memory_ms = hbm > 0 ? bytes / hbm * 1e3 : 0;
  p.engine_memory_ms = hbm > 0 ? ebytes / hbm * 1e3 : 0;
  p.compute_ms = p.compute_ceiling > 0 ? flops / p.compute_ceiling * 1e3 : 0;
  p.roofline_ms = std::max(p.memory_ms, p.compute_ms);
  p.bound = p.memory_ms >= p.compute_ms ? "hbm" : "compute";
  p.launch_floor_ms = c.launch_floor_ms * double(std::max<int64_t>(kernels, 1));
  if (time_ms <= 0) {
    p.label = "untimed";
    return p;
  }
  const double s = time_ms * 1e-3;
  p.achieved_flops_per_s = flops / s;
  p.achieved_bytes_per_s = bytes / s;
  p.engine_bytes_per_s = ebytes / s;
  p.pct_of_bound = 100.0 * p.roofline_ms / time_ms;
  if (c.launch_floor_ms > 0 && time_ms <= kLaunchBoundFactor * p.launch_floor_ms)
    p.label = "launch";
  else if (!t.gemm)
    p.label = "non-GEMM";
  else if (p.bound == "hbm")
    p.label = "HBM";
  else
    p.label = t.compute == "fp32" ? "FP32 FMA" : "tensor-core";
  return p;
}

nlohmann::json roofline_layers_json(const std::vector<LayerTraffic>& traffic, const NetRun* run, const Ceilings* c) {
  if (run) check_matches(traffic, *run);
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < traffic.size(); ++i) {
    const LayerTraffic& t = traffic[i];
    nlohmann::json j = {{"name", t.name}, {"type", t.type}, {"step", step_kind_name(t.step)}, {"gemm", t.gemm}};
    j.update(to_json(t));
    if (run && c) {
      const LayerResult& l = run->layers[i];
      const Placement p = place_layer(t, l.time.median_ms, kernel_calls(l), *c);
      j.update({{"label", p.label},
                {"bound", p.bound},
                {"time_ms", p.time_ms},
                {"kernels", p.kernels},
                {"backend", l.backend},
                {"achieved_flops_per_s", p.achieved_flops_per_s},
                {"achieved_bytes_per_s", p.achieved_bytes_per_s},
                {"engine_bytes_per_s", p.engine_bytes_per_s},
                {"intensity", p.intensity},
                {"engine_intensity", p.engine_intensity},
                {"compute_ceiling_flops_per_s", p.compute_ceiling},
                {"memory_ms", p.memory_ms},
                {"engine_memory_ms", p.engine_memory_ms},
                {"compute_ms", p.compute_ms},
                {"roofline_ms", p.roofline_ms},
                {"pct_of_bound", p.pct_of_bound},
                {"launch_floor_ms", p.launch_floor_ms}});
    }
    out.push_back(std::move(j));
  }
  return out;
}

std::string format_roofline_table(const std::vector<LayerTraffic>& traffic, const NetRun* run, const Ceilings* c) {
  if (run) check_matches(traffic, *run);
  const bool placed = run && c;
  std::string s = fmt::format("{:<10} {:<8} {:>10} {:>10} {:>10} {:>8}", "layer", "compute", "GFLOP", "MB", "MB eng",
                              "FLOP/B");
  if (placed) s += fmt::format(" {:>9} {:>9} {:>8} {:>6} {:<11}", "ms (med)", "TFLOP/s", "GB/s", "%bound", "binds");
  s += "\n";
  for (size_t i = 0; i < traffic.size(); ++i) {
    const LayerTraffic& t = traffic[i];
    if (t.step != StepKind::Run) {
      s += fmt::format("{:<10} ({})\n", t.name, step_kind_name(t.step));
      continue;
    }
    const double mb = double(t.compulsory_bytes()) * 1e-6, emb = double(t.engine_bytes()) * 1e-6;
    s += fmt::format("{:<10} {:<8} {:>10.4f} {:>10.3f} {:>10.3f} {:>8.1f}", t.name, t.gemm ? t.compute : "-",
                     double(t.flops) * 1e-9, mb, emb, t.compulsory_bytes() > 0 ? double(t.flops) / double(t.compulsory_bytes()) : 0.0);
    if (placed) {
      const LayerResult& l = run->layers[i];
      const Placement p = place_layer(t, l.time.median_ms, kernel_calls(l), *c);
      s += fmt::format(" {:>9.4f} {:>9.2f} {:>8.0f} {:>5.0f}% {:<11}", p.time_ms, p.achieved_flops_per_s * 1e-12,
                       p.achieved_bytes_per_s * 1e-9, p.pct_of_bound, p.label);
    }
    s += "\n";
  }
  if (c)
    s += fmt::format(
        "ceilings: HBM {:.2f} TB/s (read {:.2f}, copy {:.2f}; theoretical {:.2f}); fp32 {:.1f}, tf32 {:.1f}, bf16 {:.1f}, "
        "fp16 {:.1f}, fp8 {:.1f} TFLOP/s (n = {}); FFMA probe {:.1f}; launch floor {:.4f} ms\n",
        c->hbm_bytes_per_s() * 1e-12, c->hbm_read_bytes_per_s * 1e-12, c->hbm_copy_bytes_per_s * 1e-12,
        c->dram_theoretical_bytes_per_s * 1e-12, c->fp32_flops * 1e-12, c->tf32_flops * 1e-12, c->bf16_flops * 1e-12,
        c->fp16_flops * 1e-12, c->fp8_flops * 1e-12, c->gemm_n, c->ffma_probe_flops * 1e-12, c->launch_floor_ms);
  return s;
}

nlohmann::json roofline_report_json(const std::vector<LayerTraffic>& traffic, const NetRun* run, const Ceilings* c,
                                    const std::string& model, int64_t batch, const NetConfig& cfg,
                                    const NetBenchOptions& opt, const nlohmann::json& env, const nlohmann::json& extra,
                                    const std::string& skipped) {
  DEFTNN_CHECK(skipped.empty() == (run && c), "roofline report: a timed run with ceilings, or the reason there is none");
  nlohmann::json j;
  if (run) {
    j = report_json({*run}, opt, env, extra);
  } else {
    j = {{"model", model}, {"batch", batch}, {"env", env}};
    for (auto& [k, v] : extra.items()) j[k] = v;
  }
  j["schema"] = "deftnn.bench.roofline/1";
  j["tag"] = cfg.tag;
  j["config"] = {{"backend", cfg.backend}, {"formats", cfg.formats}};
  j["skipped"] = skipped.empty() ? nlohmann::json(nullptr) : nlohmann::json(skipped);
  // The plan counted is the one resolved on this device (the CPU's stand-ins keep fp32 weights).
  j["counted_on"] = run && c ? "cuda" : "cpu";
  j["ceilings"] = c ? to_json(*c) : nlohmann::json(nullptr);
  j["roofline"] = {
      {"launch_bound_factor", kLaunchBoundFactor},
      {"bytes",
       "compulsory: fp32 activations in and out (SVE: only the inputs kept columns read) + the weight in its stored "
       "format + other parameters; engine: compulsory + the engine's intermediate buffers, each written and read "
       "once (a model; docs/bottlenecks.md)"},
      {"layers", roofline_layers_json(traffic, run, c)}};
  return j;
}

std::string roofline_file_name(const std::string& model, int64_t batch, const std::string& tag, const std::string& stamp) {
  std::string n = report_file_name(model, batch, tag, stamp);  // "net-..."; same sanitising
  return "roofline-" + n.substr(4);
}

}  // namespace deftnn::bench
