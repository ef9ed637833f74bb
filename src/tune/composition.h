// The optimiser's composition stage: which compositions of variants (one
// option per optimised layer) get measured. Every combination when there are
// at most max_grid; else two greedy paths from all-dense (one scored by the
// variants' measured time savings, one by their GEMM FLOPs) and the uniform
// levels (every layer at its i-th variant). Each is installed and its
// validation accuracy and GEMM FLOPs measured; times come later, all together
// (round_timing.h).
#pragma once

#include <cstdint>
#include <vector>

#include "core/context.h"
#include "data/dataset.h"
#include "net/net.h"
#include "tune/result.h"

namespace deftnn::tune {

// GEMM FLOPs of the net with option `option` of optimised layer `slot`, the
// rest unchanged, relative to those of its dense option: the layer's FLOPs
// times the kept density.
double option_flops(const OptimizeResult& r, size_t slot, int option);

// The measured compositions, the all-dense one first ("dense", then "grid" |
// "greedy" | "greedy-flops" | "uniform"), each once; time_ms not yet set.
// Uses r.layers, r.optimised and r.options; the net is left at the last one.
std::vector<Point> compose(Net& net, Context& ctx, const OptimizeResult& r, const data::Dataset& val,
                           int64_t dense_flops, int64_t max_grid);

}  // namespace deftnn::tune
