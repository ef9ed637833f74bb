#include "tune/joint.h"

#include <algorithm>
#include <fmt/format.h>

#include "train/trainer.h"

namespace deftnn::tune {

std::vector<Point> pick_joint_points(const std::vector<Point>& composed, const OptimizeOptions& o) {
  std::vector<Point> composed_frontier = pareto_frontier(composed);
  std::vector<size_t> cand;
  for (size_t i = 0; i < composed_frontier.size(); ++i)
    if (composed_frontier[i].how != "dense") cand.push_back(i);
  std::vector<Point> pick;
  if (!o.joint_flops.empty()) {
    // By GEMM FLOPs: per cap, the most accurate composition within it.
    for (size_t ci = 0; ci < o.joint_flops.size(); ++ci) {
      const double cap = o.joint_flops[ci];
      const int64_t iters = ci < o.joint_flops_iterations.size() ? o.joint_flops_iterations[ci] : o.joint.iterations;
      if (iters <= 0) continue;
      const Point* best = nullptr;
      for (const Point& p : composed)
        if (p.how != "dense" && p.flops_ratio <= cap + 1e-12 &&
            (!best || p.val_acc > best->val_acc || (p.val_acc == best->val_acc && p.flops_ratio < best->flops_ratio)))
          best = &p;
      if (!best) continue;
      bool dup = false;
      for (const Point& q : pick) dup |= q.choice == best->choice;
      if (dup) continue;
      pick.push_back(*best);
      pick.back().joint_iterations = iters;
    }
  } else if (o.joint_points > 0 && o.joint.iterations > 0 && !cand.empty()) {
    // Evenly spread over the composed frontier, fastest always included.
    const size_t n = std::min(cand.size(), size_t(o.joint_points));
    size_t last = composed_frontier.size();
    for (size_t k = 0; k < n; ++k) {
      size_t at = n == 1 ? cand.size() - 1 : (k * (cand.size() - 1) + (n - 1) / 2) / (n - 1);
      if (cand[at] != last) {
        pick.push_back(composed_frontier[cand[at]]);
        pick.back().joint_iterations = o.joint.iterations;
      }
      last = cand[at];
    }
  }
  return pick;
}

uint64_t joint_salt(size_t tuned) { return 0xA5A5A5A5ull + uint64_t(tuned); }

void joint_finetune(Net& net, Context& ctx, OptimizeResult& r, const std::vector<Point>& picks,
                    const FinetuneOptions& joint, const train::PreparedData& d, const Log& log) {
  for (Point p : picks) {
    install_point(net, ctx, r, p);
    p.composed_val_acc = p.val_acc;
    FinetuneOptions pj = joint;
    pj.iterations = p.joint_iterations;
    p.joint_s = finetune(net, ctx, d.train, pj, joint_salt(r.tuned.size()));
    p.val_acc = train::evaluate(net, ctx, d.val).accuracy;
    p.test_acc = train::evaluate(net, ctx, d.test).accuracy;
    p.how = "joint";
    p.tuned = int(r.tuned.size());
    r.tuned.push_back(params_of(net, ctx));
    say(log, fmt::format("joint fine-tune of {:.0f}% FLOPs, {} iterations: validation {:.2f}% -> {:.2f}%, test {:.2f}% "
                         "({:.1f} s)",
                         100 * p.flops_ratio, p.joint_iterations, 100 * p.composed_val_acc, 100 * p.val_acc,
                         100 * p.test_acc, p.joint_s));
    r.points.push_back(p);
  }
}

}  // namespace deftnn::tune
