// How Conv2d and Linear apply an SveState: validation, the device copies of
// the index lists and the model-file (JSON) form. (Plans, swaps included, are
// built above the layers: sve::make_plan / sve::make_state in sve/plan.h.)
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/context.h"
#include "synapse/sve_state.h"

namespace deftnn {

// Throws an Error naming `layer` unless s fits an input matrix of K rows:
// original_k == K, kept non-empty, distinct and in [0, K); for Swap, applying
// the swaps to rows 0..K-1 leaves exactly `kept`, in order, in rows 0..K'-1.
void check_sve(const SveState& s, int64_t K, const std::string& layer);

// kept_device / swaps_device on ctx's device (undefined when empty).
void sve_upload(SveState& s, Context& ctx);

nlohmann::json sve_to_json(const SveState& s);
SveState sve_from_json(const nlohmann::json& j);

}  // namespace deftnn
