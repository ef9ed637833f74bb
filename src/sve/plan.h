// SvePlan: how one layer's GEMM is made smaller (section 4.1.1, Figure 5,
// equations 1-5).
//
// Given the kept set (K' = K - D synapse vectors), the paper's reorder
// partitions the K positions at K': positions [0, K') must end up holding the
// kept vectors. Kept indices >= K' are misplaced, and there are exactly as
// many discarded indices < K'. Pairing them in ascending order, (kept_a,
// discarded_b), and swapping each pair moves every kept vector into [0, K').
// So the truncated weight's column j (j < K') is original column j when j is
// kept, and otherwise the kept column swapped into slot j; `kept` lists the
// original index of each truncated column in that order, and it is the order
// the Copy and Fused input transforms produce too (so one weight serves every
// transform). The truncated weight is W' (M, K') = reordered W[:, :K'] * scale,
// scale = K / K' (equation 5, the expectation correction), folded in once,
// offline.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "synapse/sve_state.h"

namespace deftnn::sve {

struct SvePlan {
  int64_t original_k = 0;                          // K
  std::vector<int32_t> kept;                       // (K') original index of each truncated column
  std::vector<std::pair<int32_t, int32_t>> swaps;  // (kept index >= K', discarded index < K'), ascending
  float scale = 1.f;                               // folded into the weight: K / K', or 1 when unscaled

  int64_t kept_k() const { return int64_t(kept.size()); }
  int64_t discarded() const { return original_k - kept_k(); }
  double density() const { return original_k ? double(kept_k()) / double(original_k) : 1.0; }
  bool identity() const { return kept_k() == original_k; }

  nlohmann::json to_json() const;
  // Checks what it reads (indices in range and distinct, swaps consistent with kept).
  static SvePlan from_json(const nlohmann::json& j);
};

// The paper's reorder for `kept_set` (any order, distinct, in [0, K), not
// empty). With `scale` false the weight is truncated but not rescaled (used by
// tests of the exact identity and by baselines that want no correction).
SvePlan make_plan(int64_t K, const std::vector<int32_t>& kept_set, bool scale = true);

// W' (M, K') = the plan's columns of w (M, K...) times plan.scale. CPU tensors.
Tensor apply_to_weight(const SvePlan& plan, const Tensor& w);

// The layer-side state (src/synapse/sve_state.h) for this plan; the layer fills
// kept_device / swaps_device when it moves to a device.
SveState make_state(const SvePlan& plan, SveTransform transform);

// Throws unless the plan is self-consistent: kept distinct and in range, and
// applying the swaps to the identity order leaves `kept` in [0, K').
void check_plan(const SvePlan& plan);

}  // namespace deftnn::sve
