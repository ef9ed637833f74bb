// The optimiser's frontier stage: the Pareto frontier of every measured point
// (tune/frontier.h), the test accuracy of each frontier point and of its
// twins (the same layers and kept counts with L1-pruned variants and, for
// sve-ls, the paper's scaled ones), and the selected point.
#pragma once

#include "core/context.h"
#include "data/dataset.h"
#include "net/net.h"
#include "train/prepare.h"
#include "tune/finetune.h"
#include "tune/options.h"
#include "tune/result.h"

namespace deftnn::tune {

// Sets r.frontier (with test accuracies and twins) and r.selected (the
// selector at o.target_acc / o.target_speedup), and installs the selected
// point. A joint point's twins named by o.joint_twins are jointly fine-tuned
// the same way as the point (`joint`, same minibatches); the others are not
// reported for joint points.
void settle_frontier(Net& net, Context& ctx, OptimizeResult& r, const OptimizeOptions& o, const FinetuneOptions& joint,
                     const train::PreparedData& d);

// The dense net's test accuracy: the dense frontier point's, else measured
// (then the selected point is installed again).
double dense_test_accuracy(Net& net, Context& ctx, const OptimizeResult& r, const data::Dataset& test);

}  // namespace deftnn::tune
