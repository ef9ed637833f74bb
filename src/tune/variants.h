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
#include "sve/plan.h"
#include "sve/reconstruct.h"
#include "sve/search.h"
#include "train/trainer.h"

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
  std::string method;        // "dense" | "sve" (paper: scale K/K') | "sve-ls" (ours: least-squares reconstruction) | "l1"
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

struct FinetuneOptions {
  int64_t iterations = 200;  // SGD updates per variant
  int64_t batch = 64;
  double lr = 0.001;
  std::string lr_policy = "fixed";  // "fixed" | "linear" (lr decays linearly to 0 over the iterations)
  float momentum = 0.9f, weight_decay = 5e-4f;
  uint64_t seed = 1;
  // Knowledge distillation from the dense net (train/distill.h): with
  // distill_weight > 0 the loss mixes the hard labels with the teacher's
  // softened outputs. teacher_logits: (N, C) F32 on the CPU, the dense net's
  // logits for every image of the training split given to finetune().
  double distill_weight = 0;
  double distill_temperature = 4;
  Tensor teacher_logits;
  bool distilled() const { return distill_weight > 0; }
};

// Mean and covariance of layer l's GEMM input rows (conv: im2col columns of
// every group; linear: input rows) over the first `images` images of ds, with
// the layers before l as they are installed now (inference mode).
sve::InputStats layer_input_stats(Net& net, Context& ctx, const GemmLayer& l, const data::Dataset& ds, int64_t images);

// Builds a variant of layer `l` that keeps `kept` (from the search or the L1
// baseline), installs it (method "sve" and "l1": the paper's truncated weight
// scaled by K/K'; "sve-ls": sve::reconstruct_weight from `stats`, which must
// then be given, with its bias correction), fine-tunes only that layer on `train`, measures
// validation accuracy, and restores the dense setting. `dense` is the layer's
// dense setting (restored afterwards).
Variant make_variant(Net& net, Context& ctx, const GemmLayer& l, size_t layer_slot, const LayerSetting& dense,
                     const std::string& method, const sve::SearchResult& search, const std::vector<int32_t>& kept,
                     SveTransform transform, const data::Dataset& train, const data::Dataset& val,
                     const FinetuneOptions& ft, const sve::InputStats* stats = nullptr, double ridge = 1e-4);

// Defined in optimize.h.
double finetune(Net& net, Context& ctx, const data::Dataset& train, const FinetuneOptions& ft, uint64_t salt);

// Forward time of the net in milliseconds over `reps` passes of `x` after two
// warm-up passes: on the CPU the fastest pass (wall clock; interference from
// other processes only adds time), on CUDA the median of wall-clock times
// around synchronised passes.
double forward_ms(Net& net, Context& ctx, const Tensor& x, int reps);
// The wall-clock milliseconds of each of `reps` passes after `warmup` passes.
std::vector<double> forward_times(Net& net, Context& ctx, const Tensor& x, int reps, int warmup);
// forward_ms's statistic of a set of pass times: the fastest on the CPU, the
// median on CUDA.
double summarize_times(const Context& ctx, std::vector<double> t);

}  // namespace deftnn::tune
