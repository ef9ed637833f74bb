// The optimiser behind `deftnn optimize`: per GEMM layer and threshold, build
// and fine-tune a variant (and its L1-pruned twin at the same kept count);
// compose variants over layers, measuring each composition's forward time and
// validation accuracy; keep the Pareto frontier; pick the point nearest the
// user's target; report everything as JSON.
//
// optimize() runs named stages, each in its own file:
//   baseline.h       eligible layers, the dense net's accuracy, time, teacher logits
//   layer_options.h  per optimised layer: variants and their L1 / paper twins
//   round_timing.h   variants alone, then every composition, in interleaved rounds
//   composition.h    which compositions are measured (grid | greedy paths + uniform levels)
//   joint.h          joint fine-tuning of chosen compositions
//   format_trials.h  the frontier again in each fission format (GPU)
//   frontier_stage.h the frontier's test accuracy and twins, the selected point
//   report.h         the report JSON
// The options are in options.h, the result and how to install it in result.h,
// fine-tuning in finetune.h.
#pragma once

#include "train/prepare.h"
#include "tune/finetune.h"
#include "tune/options.h"
#include "tune/result.h"

namespace deftnn::tune {

// net is on ctx's device and trained; d holds train, val and test splits.
OptimizeResult optimize(Net& net, Context& ctx, const train::PreparedData& d, const OptimizeOptions& o);

}  // namespace deftnn::tune
