#include "tune/optimize.h"

#include <algorithm>

#include "core/timing.h"
#include "tune/baseline.h"
#include "tune/composition.h"
#include "tune/format_trials.h"
#include "tune/frontier_stage.h"
#include "tune/joint.h"
#include "tune/layer_options.h"
#include "tune/report.h"
#include "tune/round_timing.h"

namespace deftnn::tune {

OptimizeResult optimize(Net& net, Context& ctx, const train::PreparedData& d, const OptimizeOptions& o) {
  check_fission_formats(o.fission_formats, ctx);  // refuse before any work
  const Stopwatch clock;
  const RoundTiming timing = round_timing(o);
  const Baseline dense = measure_baseline(net, ctx, d, o);
  OptimizeResult r;
  r.layers = dense.layers;
  r.optimised = dense.optimised;
  r.base = dense.params;

  LayerOptions options = build_layer_options(net, ctx, d, dense, o);
  r.options = std::move(options.sve);
  r.l1_options = std::move(options.l1);
  r.paper_options = std::move(options.paper);
  time_variants_alone(net, ctx, r, dense.timing_batch, timing, o.log);

  r.points = compose(net, ctx, r, d.val, dense.gemm_flops, o.max_grid);
  // Every composition timed together (joint points run the same shapes as
  // their composition, so they share its time).
  time_points(net, ctx, r, dense.timing_batch, timing, o.log);

  joint_finetune(net, ctx, r, pick_joint_points(r.points, o), dense.joint, d, o.log);

  const double dense_point_ms = r.points.front().time_ms;
  for (Point& p : format_trials(net, ctx, r, o.fission_formats, dense.timing_batch,
                                o.time_reps * std::max(1, o.time_rounds), dense_point_ms, d.val, o.log))
    r.points.push_back(std::move(p));

  settle_frontier(net, ctx, r, o, dense.joint, d);

  DenseSummary summary;
  summary.model = net.name();
  summary.device = device_name(ctx.device());
  summary.val_acc = dense.val_acc;
  summary.test_acc = dense_test_accuracy(net, ctx, r, d.test);
  summary.time_ms = dense_point_ms;
  summary.gemm_flops = dense.gemm_flops;
  summary.timing_batch = dense.timing_batch.dim(0);
  summary.statistic = forward_statistic(ctx);
  r.report = optimize_report(r, o, summary);
  r.report["seconds"] = clock.seconds();
  return r;
}

}  // namespace deftnn::tune
