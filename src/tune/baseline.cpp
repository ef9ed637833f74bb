#include "tune/baseline.h"

#include <algorithm>
#include <fmt/format.h>

#include "core/error.h"
#include "core/timing.h"
#include "sve/eligible.h"
#include "train/distill.h"
#include "train/trainer.h"
#include "tune/result.h"
#include "tune/round_timing.h"

namespace deftnn::tune {

namespace {

// A fixed batch of validation images for timing, on ctx's device.
Tensor timing_batch(const data::Dataset& val, int64_t n, Context& ctx) {
  n = std::min<int64_t>(n, val.size());
  return val.images.slice0(0, n).to(ctx.device(), ctx);
}

}  // namespace

Baseline measure_baseline(Net& net, Context& ctx, const train::PreparedData& d, const OptimizeOptions& o) {
  Baseline b;
  b.layers = gemm_layers(net);
  DEFTNN_CHECK(!b.layers.empty(), "{}: no conv or linear layer to optimise", net.name());
  DEFTNN_CHECK(d.val.size() > 0, "optimize needs a validation split (--val > 0)");
  for (const auto& l : b.layers) b.gemm_flops += l.flops;
  std::vector<int64_t> flops;
  for (const auto& l : b.layers) flops.push_back(l.flops);
  b.optimised = sve::eligible_layers(flops, {o.include_input_layer, o.min_layer_flops});
  DEFTNN_CHECK(!b.optimised.empty(), "{}: no layer to optimise (min_layer_flops {})", net.name(), o.min_layer_flops);
  DEFTNN_CHECK(o.method == sve::Method::Sve || o.method == sve::Method::SveLs,
               "optimize: SVE method '{}' is not one of: sve, sve-ls", sve::method_name(o.method));
  b.params = params_of(net, ctx);
  b.timing_batch = timing_batch(d.val, o.time_batch, ctx);
  b.val_acc = train::evaluate(net, ctx, d.val).accuracy;
  b.time_ms = forward_ms(net, ctx, b.timing_batch, o.time_reps);
  say(o.log, fmt::format("dense: validation accuracy {:.2f}%, forward {:.3f} ms per {} images", 100 * b.val_acc,
                         b.time_ms, b.timing_batch.dim(0)));
  // Distillation: the dense net is the teacher; its logits for the training
  // split are computed once and shared by every fine-tuning.
  b.finetune = o.finetune;
  b.joint = o.joint;
  if (b.finetune.distilled() || b.joint.distilled()) {
    const Stopwatch clock;
    Tensor teacher = train::predict_logits(net, ctx, d.train);
    b.finetune.teacher_logits = b.joint.teacher_logits = teacher;
    say(o.log, fmt::format("teacher logits for {} training images ({:.1f} s)", d.train.size(), clock.seconds()));
  }
  return b;
}

}  // namespace deftnn::tune
