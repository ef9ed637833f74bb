// The network benchmark behind `deftnn bench MODEL`, in the manner of
// `caffe time`: the forward pass timed layer by layer (events around every
// layer inside one pass) and as a whole (a CUDA graph of Net::forward,
// replayed), on random non-zero inputs, with the names of the kernels each
// layer ran recorded in one extra untimed pass.
//
// A comparison (--compare) benchmarks the fp32 cuBLAS baseline and a candidate
// configuration in the same process; their whole-pass times are taken
// interleaved (baseline, candidate, baseline, ...), so that both see the same
// clocks. Every speedup deftnn claims is measured this way.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/net_report.h"
#include "net/net.h"
#include "plan/exec_plan.h"

namespace deftnn::bench {

// The fp32 cuBLAS baseline (CPU BLAS on a CPU context): its report label and
// its plan (every GEMM layer on that kernel, fp32 weights; default layout).
NetConfig baseline_config(const Context& ctx);
ExecPlan baseline_plan(const Context& ctx);

// Runs the whole forward pass of `net` on a fixed random input, eagerly or as a
// CUDA graph replay; the benchmark times whole passes through it.
class ForwardRunner {
 public:
  ForwardRunner(Context& ctx, Net& net, int64_t batch, uint64_t seed, bool graph);
  void operator()();
  const std::string& method() const { return method_; }
  const std::string& graph_error() const { return graph_error_; }
  const Tensor& input() const { return x_; }

 private:
  Context& ctx_;
  Net& net_;
  Tensor x_;
  std::unique_ptr<CudaGraph> graph_;
  std::string method_, graph_error_;
};

// The random input of a benchmark: (batch, C, H, W) uniform in [-1, 1), seeded,
// on ctx's device; checked to be non-zero.
Tensor random_input(Context& ctx, const Net& net, int64_t batch, uint64_t seed);

// Benchmarks net (its plan applied: plan::apply_plan) on ctx's device; `model`
// and cfg label the run.
NetRun bench_net(Context& ctx, Net& net, const std::string& model, const NetConfig& cfg, const NetBenchOptions& opt);

// Baseline and candidate side by side: each is benchmarked per layer, then
// their whole passes are timed interleaved (NetRun::total of both). The
// baseline net gets baseline_plan's kernels and keeps its layout settings.
std::pair<NetRun, NetRun> bench_compare(Context& ctx, Net& baseline, Net& candidate, const std::string& model,
                                        const NetConfig& candidate_cfg, const NetBenchOptions& opt);

}  // namespace deftnn::bench
