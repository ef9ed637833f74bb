// Granularity of synapse vector elimination: single synapse vectors (taps:
// one (input channel, kh, kw) column of a conv, one feature of a linear
// layer; the paper's) or whole input channels (sve/groups.h), so that ONNX
// export can drop the channels physically (ONNX Conv cannot skip single taps).
#pragma once

#include <cstdint>
#include <string>

#include "net/net.h"

namespace deftnn::tune {

enum class Granularity { Tap, Channel };
const char* granularity_name(Granularity g);  // "tap" | "channel"
Granularity parse_granularity(const std::string& name);

// The synapse vectors per elimination group of GEMM layer `index` of `net`
// at granularity g: Tap -> 1; Channel -> a conv's kh * kw (one group per
// input channel of a group), a linear layer's H * W when its input is a
// (C, H, W) tensor or a flatten of one (reached through flatten and
// element-wise layers only: one group per channel), else 1 (a linear layer
// on plain features: one column per group, as at Tap).
int64_t elimination_group(Net& net, size_t index, Granularity g);

}  // namespace deftnn::tune
