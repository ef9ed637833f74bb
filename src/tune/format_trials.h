// The optimiser's format trials (GPU): every point of the frontier so far is
// measured again with every GEMM layer's forward in each fission format
// (accuracy changes only by the format's rounding of weights and
// activations: no fine-tuning).
#pragma once

#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "data/dataset.h"
#include "net/net.h"
#include "tune/options.h"
#include "tune/result.h"

namespace deftnn::tune {

// Throws, before any work, when formats are asked for on a CPU context.
void check_fission_formats(const std::vector<Format>& formats, const Context& ctx);

// The new points ("<how>+<format>", Point::format set), one per frontier
// point of r.points and non-fp32 format, in that order: validation accuracy,
// and the forward time over x in reps passes, with speedup against
// dense_time_ms.
std::vector<Point> format_trials(Net& net, Context& ctx, const OptimizeResult& r, const std::vector<Format>& formats,
                                 const Tensor& x, int reps, double dense_time_ms, const data::Dataset& val,
                                 const Log& log);

}  // namespace deftnn::tune
