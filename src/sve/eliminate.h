// Synapse vector elimination of a whole net at a fixed density: every eligible
// GEMM layer (sve/eligible.h: by default all but the input layer) keeps
// kept_count(density, K, align) synapse vectors (sve/search.h), chosen
// by the paper's search (keep-count mode: alpha bisected to reach the count)
// or by the L1 baseline. No fine-tuning: this is what the speed benchmarks use
// (CaffeNet with random weights has no correlation structure, so a density,
// not an alpha, is what can be asked for) and the starting point of a variant.
//
// Granularity: `group_of` gives a layer's elimination group (sve/groups.h;
// tune::elimination_group computes it from the graph, which this folder does
// not see): 1 keeps single synapse vectors, > 1 keeps or drops whole input
// channels of that many vectors, the density then counting kept channels, as
// the optimiser's channel mode does (deftnn optimize --no-finetune).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/context.h"
#include "synapse/sve_state.h"
#include "net/net.h"
#include "sve/eligible.h"
#include "sve/method.h"

namespace deftnn::sve {

struct EliminateOptions {
  double density = 0.5;               // kept / K per layer, in (0, 1]
  Method method = Method::Sve;        // Sve (correlation search) | L1 (largest L1 norm)
  Eligibility layers;                 // which GEMM layers are eliminated (default: all but the input layer)
  int64_t align = 1;                  // round kept counts up to a multiple of this
  SveTransform transform = SveTransform::Fused;
  // The elimination group of the GEMM layer net.layer(index); empty: 1 for
  // every layer (taps, the paper's granularity).
  std::function<int64_t(size_t index)> group_of;
};

struct EliminatedLayer {
  std::string name;
  int64_t k = 0, kept = 0;
  int64_t group = 1;  // synapse vectors per kept or dropped group (1: taps)
  double alpha = 0;  // the threshold the search found (sve), 0 for l1
};

// Applies elimination in place (weights truncated and scaled, SVE state set);
// the net may live on the CPU or a GPU (ctx's device). Returns what it did.
std::vector<EliminatedLayer> eliminate(Net& net, Context& ctx, const EliminateOptions& options);

nlohmann::json to_json(const std::vector<EliminatedLayer>& layers);

}  // namespace deftnn::sve
