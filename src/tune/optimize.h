// The optimiser behind `deftnn optimize`: per GEMM layer and threshold, build
// and fine-tune a variant (and its L1-pruned twin at the same kept count);
// compose variants over layers, measuring each composition's forward time and
// validation accuracy; keep the Pareto frontier; pick the point nearest the
// user's target; report everything as JSON.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "train/prepare.h"
#include "tune/frontier.h"
#include "tune/variants.h"

namespace deftnn::tune {

struct OptimizeOptions {
  // Thresholds per layer. Empty: the keep-count mode at `densities` (the alpha
  // each lands on is reported), which spreads variants evenly whatever the
  // weights' correlation structure.
  std::vector<double> alphas;
  std::vector<double> densities = {0.8, 0.65, 0.5, 0.4, 0.3};
  int64_t align = 1;                 // kept counts rounded up to a multiple (GEMM tile K)
  bool include_first_conv = false;   // the input layer is small and sensitive (section 5.3)
  bool l1_baseline = true;
  SveTransform transform = SveTransform::Fused;
  FinetuneOptions finetune;
  int time_reps = 7;                 // forward passes per timing (median)
  int64_t time_batch = 256;          // images per timed forward pass
  std::optional<double> target_acc, target_speedup;  // the selector's goal
  std::function<void(const std::string&)> log;       // progress lines (may be empty)
};

struct OptimizeResult {
  std::vector<GemmLayer> layers;     // every GEMM layer of the net
  std::vector<size_t> optimised;     // indices into layers
  std::vector<std::vector<Variant>> options;     // per optimised layer: [dense, sve variants by kept desc]
  std::vector<std::vector<Variant>> l1_options;  // per optimised layer: [dense, l1 twins], same order
  std::vector<Point> points, frontier;
  size_t selected = 0;               // index into frontier (installed in the net on return)
  nlohmann::json report;
};

// net is on ctx's device and trained; d holds train, val and test splits.
OptimizeResult optimize(Net& net, Context& ctx, const train::PreparedData& d, const OptimizeOptions& o);

// Installs composition `choice` (one option per optimised layer).
void install_choice(Net& net, Context& ctx, const OptimizeResult& r, const std::vector<int>& choice, bool l1 = false);

}  // namespace deftnn::tune
