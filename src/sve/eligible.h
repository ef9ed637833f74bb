// Which GEMM layers synapse vector elimination may touch: the one rule shared
// by sve::eliminate (bench --density) and the optimiser.
//
// The input layer (the net's first GEMM layer) stays dense unless asked: it
// sees the raw image, has few synapse vectors (LeNet-5's conv1: K = 25) and
// is the most sensitive to them (section 5.3). Optionally, layers with less
// than a share of the net's GEMM FLOPs stay dense too: they can save neither
// time nor FLOPs worth an accuracy loss (LeNet-5's ip2 has 0.2%).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "net/net.h"

namespace deftnn::sve {

struct Eligibility {
  bool include_input_layer = false;  // let SVE touch the first GEMM layer too
  double min_flops_share = 0;        // in [0, 1]: layers below this share of the GEMM FLOPs stay dense
};

// gemm_flops: the GEMM FLOPs of each GEMM layer of a net, in net order (any
// common batch size). Returns the positions in gemm_flops that SVE may
// eliminate, ascending (possibly none).
std::vector<size_t> eligible_layers(const std::vector<int64_t>& gemm_flops, const Eligibility& e);

// The same over a net: the indices (net.layer(i)) of its eligible GEMM layers,
// with each layer's FLOPs as it runs now (2 * M * K * N * groups per image).
std::vector<size_t> eligible_layers(const Net& net, const Eligibility& e);

}  // namespace deftnn::sve
