#include "tune/composition.h"

#include <algorithm>
#include <string>

#include "train/trainer.h"

namespace deftnn::tune {

double option_flops(const OptimizeResult& r, size_t slot, int option) {
  const Variant& v = r.options[slot][size_t(option)];
  const double f = double(r.layers[r.optimised[slot]].flops);
  return v.method == sve::Method::Dense ? f : f * v.plan.density();
}

std::vector<Point> compose(Net& net, Context& ctx, const OptimizeResult& r, const data::Dataset& val,
                           int64_t dense_flops, int64_t max_grid) {
  const size_t L = r.optimised.size();
  std::vector<Point> points;
  auto measure = [&](const std::vector<int>& choice, const std::string& how) {
    for (const Point& p : points)
      if (p.choice == choice) return;
    install_choice(net, ctx, r, choice);
    Point p;
    p.choice = choice;
    p.how = how;
    p.val_acc = train::evaluate(net, ctx, val).accuracy;
    double flops = double(dense_flops);
    for (size_t s = 0; s < L; ++s) flops -= option_flops(r, s, 0) - option_flops(r, s, choice[s]);
    p.flops_ratio = flops / double(dense_flops);
    points.push_back(p);
  };
  measure(std::vector<int>(L, 0), "dense");
  double grid_size = 1;
  for (const auto& v : r.options) grid_size *= double(v.size());
  if (grid_size <= double(max_grid)) {
    // Every combination (layer 0 slowest-varying), each measured.
    std::vector<int> c(L, 0);
    for (;;) {
      size_t s = L;
      while (s > 0 && size_t(++c[s - 1]) == r.options[s - 1].size()) c[--s] = 0;
      if (s == 0) break;
      measure(c, "grid");
    }
    return points;
  }
  // Greedy paths: from all-dense, each step moves one layer to its next
  // (smaller) variant, the one that saves the most per point of (isolated)
  // validation accuracy lost. Two paths: savings in measured time alone,
  // and in GEMM FLOPs (steadier where the time savings of small layers are
  // below the timing noise). Both only choose which compositions get measured.
  for (const bool by_time : {true, false}) {
    std::vector<int> cur(L, 0);
    for (;;) {
      int best = -1;
      double best_score = -1;
      for (size_t s = 0; s < L; ++s) {
        const size_t c = size_t(cur[s]);
        if (c + 1 >= r.options[s].size()) continue;
        const Variant &a = r.options[s][c], &b = r.options[s][c + 1];
        const double flops_saved = option_flops(r, s, int(c)) - option_flops(r, s, int(c + 1));
        const double save = by_time ? std::max(0.0, a.time_ms - b.time_ms) + 1e-9 * flops_saved : flops_saved;
        const double score = save / std::max(1e-4, a.val_acc - b.val_acc);
        if (score > best_score) best_score = score, best = int(s);
      }
      if (best < 0) break;
      ++cur[size_t(best)];
      measure(cur, by_time ? "greedy" : "greedy-flops");
    }
  }
  // Uniform levels: every layer at its i-th variant.
  size_t max_opts = 0;
  for (const auto& v : r.options) max_opts = std::max(max_opts, v.size());
  for (size_t i = 1; i < max_opts; ++i) {
    std::vector<int> c(L);
    for (size_t s = 0; s < L; ++s) c[s] = int(std::min(i, r.options[s].size() - 1));
    measure(c, "uniform");
  }
  return points;
}

}  // namespace deftnn::tune
