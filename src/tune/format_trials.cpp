#include "tune/format_trials.h"

#include <fmt/format.h>

#include "core/error.h"
#include "formats/format.h"
#include "train/trainer.h"
#include "tune/round_timing.h"

namespace deftnn::tune {

void check_fission_formats(const std::vector<Format>& formats, const Context& ctx) {
  if (formats.empty()) return;
  std::string names;
  for (const Format& f : formats) names += (names.empty() ? "" : ", ") + f.name();
  DEFTNN_CHECK(ctx.is_cuda(), "optimize: fission formats ({}) need the GPU; this run is on {}", names,
               device_name(ctx.device()));
}

std::vector<Point> format_trials(Net& net, Context& ctx, const OptimizeResult& r, const std::vector<Format>& formats,
                                 const Tensor& x, int reps, double dense_time_ms, const data::Dataset& val,
                                 const Log& log) {
  std::vector<Point> out;
  if (formats.empty()) return out;
  const std::vector<Point> fp32_frontier = pareto_frontier(r.points);
  for (const Format& f : formats) {
    if (f.kind == FormatKind::FP32) continue;
    for (const Point& q : fp32_frontier) {
      Point p = q;
      p.format = f;
      p.how = q.how + "+" + f.name();
      install_point(net, ctx, r, p);
      p.val_acc = train::evaluate(net, ctx, val).accuracy;
      p.time_ms = forward_ms(net, ctx, x, reps);
      p.speedup = dense_time_ms / p.time_ms;
      say(log, fmt::format("{} at {:.0f}% FLOPs with {}: validation {:.2f}% -> {:.2f}%, {:.3f} -> {:.3f} ms", q.how,
                           100 * q.flops_ratio, f.name(), 100 * q.val_acc, 100 * p.val_acc, q.time_ms, p.time_ms));
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace deftnn::tune
