// How Conv2d and Linear apply an SveState: validation, the device copies of
// the index lists, the swap plan and the model-file (JSON) form.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/context.h"
#include "layers/sve_state.h"

namespace deftnn {

// Throws an Error naming `layer` unless s fits an input matrix of K rows:
// original_k == K, kept non-empty, distinct and in [0, K); for Swap, applying
// the swaps to rows 0..K-1 leaves exactly `kept`, in order, in rows 0..K'-1.
void check_sve(const SveState& s, int64_t K, const std::string& layer);

// The Swap transform's plan for a set of kept rows: the order the rows end
// up in (which must be the truncated weight's column order) and the pairs
// (kept row >= K', discarded row < K'). Kept rows already below K' stay put.
struct SveSwapPlan {
  std::vector<int32_t> kept;  // in post-swap order
  std::vector<std::pair<int32_t, int32_t>> swaps;
};
SveSwapPlan sve_swap_plan(std::vector<int32_t> kept_set, int64_t K);

// kept_device / swaps_device on ctx's device (undefined when empty).
void sve_upload(SveState& s, Context& ctx);

nlohmann::json sve_to_json(const SveState& s);
SveState sve_from_json(const nlohmann::json& j);

}  // namespace deftnn
