// <layer, alpha> variants (section 4.1.3): one GEMM layer with synapse vector
// elimination at one threshold, fine-tuned on its own with every other layer
// dense and frozen, so any set of variants (one per layer) composes at run time.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/context.h"
#include "data/dataset.h"
#include "synapse/sve_state.h"
#include "net/net.h"
#include "sve/method.h"
#include "sve/plan.h"
#include "sve/reconstruct.h"
#include "sve/search.h"
#include "tune/finetune.h"

namespace deftnn::tune {

// A conv or linear layer of a net, as the optimiser sees it.
struct GemmLayer {
  size_t index = 0;          // position in the net
  std::string name, type;    // "conv" | "linear"
  int64_t M = 0, K = 0;      // weight (M, K): M = out channels / features, K = synapse vectors
  int64_t groups = 1;
  int64_t flops = 0;         // GEMM FLOPs of one image, dense
};
std::vector<GemmLayer> gemm_layers(Net& net);

// What a GEMM layer runs with: its weight (dense (M, K...) or truncated
// (M, K')), bias and SVE state (inactive = dense). Tensors on the CPU.
struct LayerSetting {
  SveState state;
  Tensor weight, bias;
  bool dense() const { return !state.active(); }
};
// The layer's current setting, copied to the CPU.
LayerSetting capture(Net& net, const GemmLayer& l, Context& ctx);
// Installs a setting (the net is on ctx's device).
void install(Net& net, const GemmLayer& l, const LayerSetting& s, Context& ctx);

struct Variant {
  std::string id;            // "<layer>/sve@0.85" | "<layer>/l1@96" | "<layer>/dense"
  size_t layer = 0;          // index into gemm_layers()
  sve::Method method = sve::Method::Dense;
  double alpha = 1;          // sve: the threshold (found by bisection in keep-count mode)
  sve::SearchResult search;  // sve: counts and rounding
  sve::SvePlan plan;
  double val_acc_before = 0; // validation accuracy right after elimination (before fine-tuning)
  double val_acc = 0;        // after fine-tuning, this variant alone
  double time_ms = 0;        // forward time of the whole net with only this variant
  double dense_time_ms = 0;  // the dense net's time, measured right after time_ms
  double finetune_s = 0;
  LayerSetting setting;      // fine-tuned weight and bias
  int64_t kept() const { return plan.original_k ? plan.kept_k() : 0; }
  nlohmann::json to_json() const;  // without the tensors
};

// Mean and covariance of layer l's GEMM input rows (conv: im2col columns of
// every group; linear: input rows) over the first `images` images of ds: the
// tensor l reads, computed by the layers it depends on (in a branching graph,
// the graph up to that tensor) as they are installed now (inference mode).
sve::InputStats layer_input_stats(Net& net, Context& ctx, const GemmLayer& l, const data::Dataset& ds, int64_t images);

// What make_variant builds: `layer` (slot `slot` among the optimised layers)
// keeping search.kept (from the search, or the L1 baseline's kept set).
struct VariantRequest {
  const GemmLayer& layer;
  size_t slot;
  const LayerSetting& dense;       // the layer's dense setting (restored afterwards)
  sve::Method method;              // Sve | SveLs | L1
  const sve::SearchResult& search;
  SveTransform transform;
  const sve::InputStats* stats = nullptr;  // SveLs: the layer's input statistics
  double ridge = 1e-4;                     // SveLs regularisation
  int64_t group = 1;                       // synapse vectors per elimination group (the state's `group`)
};

// Builds the requested variant and installs it (methods Sve and L1: the
// paper's truncated weight scaled by K/K'; SveLs: sve::reconstruct_weight
// from req.stats, with its bias correction), fine-tunes only that layer on
// `train`, measures validation accuracy on `val`, and restores the dense
// setting.
Variant make_variant(Net& net, Context& ctx, const VariantRequest& req, const data::Dataset& train,
                     const data::Dataset& val, const FinetuneOptions& ft);

}  // namespace deftnn::tune
