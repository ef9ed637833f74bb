#include "tune/frontier.h"

#include <algorithm>

#include "core/error.h"

namespace deftnn::tune {

nlohmann::json Point::to_json() const {
  nlohmann::json j = {{"choice", choice},   {"val_acc", val_acc},       {"time_ms", time_ms},
                      {"speedup", speedup}, {"flops_ratio", flops_ratio}, {"how", how}};
  j["format"] = format.name();
  if (test_acc >= 0) j["test_acc"] = test_acc;
  if (l1_val_acc >= 0) j["l1_val_acc"] = l1_val_acc;
  if (l1_test_acc >= 0) j["l1_test_acc"] = l1_test_acc;
  if (paper_val_acc >= 0) j["paper_val_acc"] = paper_val_acc;
  if (paper_test_acc >= 0) j["paper_test_acc"] = paper_test_acc;
  if (tuned >= 0) {
    j["tuned"] = tuned;
    j["composed_val_acc"] = composed_val_acc;
    j["joint_s"] = joint_s;
    j["joint_iterations"] = joint_iterations;
  }
  return j;
}

std::vector<Point> pareto_frontier(const std::vector<Point>& points) {
  std::vector<Point> f;
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    bool dominated = false;
    for (size_t j = 0; j < points.size() && !dominated; ++j) {
      if (j == i) continue;
      const Point& q = points[j];
      bool no_worse = q.time_ms <= p.time_ms && q.val_acc >= p.val_acc;
      bool better = q.time_ms < p.time_ms || q.val_acc > p.val_acc;
      if (no_worse && (better || j < i)) dominated = true;
    }
    if (!dominated) f.push_back(p);
  }
  std::sort(f.begin(), f.end(), [](const Point& a, const Point& b) { return a.time_ms > b.time_ms; });
  return f;
}

size_t select_point(const std::vector<Point>& f, std::optional<double> target_acc,
                    std::optional<double> target_speedup) {
  DEFTNN_CHECK(!f.empty(), "select_point on an empty frontier");
  auto most_accurate = [&] {
    size_t b = 0;
    for (size_t i = 1; i < f.size(); ++i)
      if (f[i].val_acc > f[b].val_acc) b = i;
    return b;
  };
  auto fastest = [&] {
    size_t b = 0;
    for (size_t i = 1; i < f.size(); ++i)
      if (f[i].speedup > f[b].speedup) b = i;
    return b;
  };
  if (target_acc) {
    std::optional<size_t> b;
    for (size_t i = 0; i < f.size(); ++i)
      if (f[i].val_acc >= *target_acc && (!b || f[i].speedup > f[*b].speedup)) b = i;
    return b ? *b : most_accurate();
  }
  if (target_speedup) {
    std::optional<size_t> b;
    for (size_t i = 0; i < f.size(); ++i)
      if (f[i].speedup >= *target_speedup && (!b || f[i].val_acc > f[*b].val_acc)) b = i;
    return b ? *b : fastest();
  }
  const double best = f[most_accurate()].val_acc;
  std::optional<size_t> b;
  for (size_t i = 0; i < f.size(); ++i)
    if (f[i].val_acc >= best - 0.002 && (!b || f[i].speedup > f[*b].speedup)) b = i;
  return *b;
}

}  // namespace deftnn::tune
