// The optimiser's variants stage: per optimised layer, the search for kept
// sets (one per threshold or density), then one variant per distinct kept
// count, built and fine-tuned alone (tune/variants.h), with its twins at the
// same kept count: the L1-pruned variant and, for "sve-ls", the paper's.
#pragma once

#include <cstdint>
#include <vector>

#include "core/context.h"
#include "net/net.h"
#include "train/prepare.h"
#include "tune/baseline.h"
#include "tune/options.h"
#include "tune/variants.h"

namespace deftnn::tune {

// Per optimised layer: [dense, variants by kept count descending]; the twin
// lists hold the same dense entry and, at each index, the twin of the same
// kept count (empty beyond the dense entry when not built).
struct LayerOptions {
  std::vector<std::vector<Variant>> sve, l1, paper;
};

// Builds every variant (same seeds and order as ever: layer by layer, each
// variant then its L1 twin then its paper twin). The net is left dense.
LayerOptions build_layer_options(Net& net, Context& ctx, const train::PreparedData& d, const Baseline& b,
                                 const OptimizeOptions& o);

}  // namespace deftnn::tune
