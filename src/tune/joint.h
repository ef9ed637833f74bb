// The optimiser's joint fine-tuning stage (the paper's step 3, Figure 3):
// chosen compositions are installed and fine-tuned with every layer
// trainable, distilled from the dense net, and become "joint" points.
#pragma once

#include <cstdint>
#include <vector>

#include "core/context.h"
#include "net/net.h"
#include "train/prepare.h"
#include "tune/finetune.h"
#include "tune/options.h"
#include "tune/result.h"

namespace deftnn::tune {

// Which compositions get joint fine-tuning, with their iterations
// (Point::joint_iterations), from the composed points: per FLOPs cap of
// o.joint_flops the most accurate within it (o.joint_flops_iterations, else
// o.joint.iterations; a repeated composition once), or, without caps,
// o.joint_points spread evenly over the composed frontier, fastest included.
std::vector<Point> pick_joint_points(const std::vector<Point>& composed, const OptimizeOptions& o);

// The seed salt of the joint fine-tuning that made r.tuned[tuned]; its twins
// are fine-tuned with the same one (same minibatches).
uint64_t joint_salt(size_t tuned);

// Fine-tunes each pick (installed with install_point) with `joint` at the
// pick's iterations, then appends it to r.points as a "joint" point with test
// accuracy, and its parameters to r.tuned.
void joint_finetune(Net& net, Context& ctx, OptimizeResult& r, const std::vector<Point>& picks,
                    const FinetuneOptions& joint, const train::PreparedData& d, const Log& log);

}  // namespace deftnn::tune
