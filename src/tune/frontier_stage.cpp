#include "tune/frontier_stage.h"

#include <fmt/format.h>

#include "train/trainer.h"
#include "tune/joint.h"

namespace deftnn::tune {

void settle_frontier(Net& net, Context& ctx, OptimizeResult& r, const OptimizeOptions& o, const FinetuneOptions& joint,
                     const train::PreparedData& d) {
  const bool paper_twin = o.method == sve::Method::SveLs && o.paper_baseline;
  r.frontier = pareto_frontier(r.points);
  for (Point& p : r.frontier) {
    install_point(net, ctx, r, p);
    if (p.test_acc < 0) p.test_acc = train::evaluate(net, ctx, d.test).accuracy;
    for (const Twin twin : {Twin::L1, Twin::Paper}) {
      if (twin == Twin::L1 ? !o.l1_baseline : !paper_twin) continue;
      if (p.tuned >= 0 && !jointly_tuned(o.joint_twins, twin)) continue;
      set_params(net, ctx, r.base);
      install_choice(net, ctx, r, p.choice, twin);
      if (p.tuned >= 0) {
        FinetuneOptions pj = joint;
        pj.iterations = p.joint_iterations;
        finetune(net, ctx, d.train, pj, joint_salt(size_t(p.tuned)));
      }
      // Validation accuracy for jointly fine-tuned twins only (composed twins:
      // test only, to save time; their variants' validation accuracy is in
      // the layer table).
      if (p.tuned >= 0) (twin == Twin::L1 ? p.l1_val_acc : p.paper_val_acc) = train::evaluate(net, ctx, d.val).accuracy;
      (twin == Twin::L1 ? p.l1_test_acc : p.paper_test_acc) = train::evaluate(net, ctx, d.test).accuracy;
    }
  }
  r.selected = select_point(r.frontier, o.target_acc, o.target_speedup);
  install_point(net, ctx, r, r.frontier[r.selected]);
  say(o.log, fmt::format("{} compositions measured, {} on the frontier; selected {:.2f}x at {:.2f}% validation",
                         r.points.size(), r.frontier.size(), r.frontier[r.selected].speedup,
                         100 * r.frontier[r.selected].val_acc));
}

double dense_test_accuracy(Net& net, Context& ctx, const OptimizeResult& r, const data::Dataset& test) {
  for (const Point& p : r.frontier)
    if (p.how == "dense") return p.test_acc;
  install_point(net, ctx, r, r.points.front());
  const double acc = train::evaluate(net, ctx, test).accuracy;
  install_point(net, ctx, r, r.frontier[r.selected]);
  return acc;
}

}  // namespace deftnn::tune
