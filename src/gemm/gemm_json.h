// GemmConfig <-> JSON, for model files: a GEMM layer's graph entry may carry
// {"gemm": {"backend": "fission", "format": "deft16q", "placement": "onchip"}}
// so the format chosen per layer travels with the model.
#pragma once

#include <nlohmann/json.hpp>

#include "gemm/gemm.h"

namespace deftnn {

nlohmann::json gemm_config_to_json(const GemmConfig& c);
// Missing keys keep their defaults; unknown keys or names throw, naming them.
GemmConfig gemm_config_from_json(const nlohmann::json& j);

}  // namespace deftnn
