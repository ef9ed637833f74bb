// Caffe's weight fillers for the GEMM layers: {"type": "xavier"} (uniform in
// +-sqrt(3 / fan_in), Caffe's default variance norm) and
// {"type": "gaussian", "std": s} (mean 0).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/rng.h"
#include "core/tensor.h"

namespace deftnn {

// Throws an Error naming `layer` for an unknown filler type.
void check_filler(const nlohmann::json& filler, const std::string& layer);
// Fills a CPU F32 tensor.
void fill_weight(Tensor& w, const nlohmann::json& filler, int64_t fan_in, Rng& rng, const std::string& layer);

}  // namespace deftnn
