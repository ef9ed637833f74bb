#include "sve/plan.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace deftnn::sve {

SvePlan make_plan(int64_t K, const std::vector<int32_t>& kept_set, bool scale) {
  DEFTNN_CHECK(K >= 1 && !kept_set.empty() && int64_t(kept_set.size()) <= K,
               "an SVE plan keeps between 1 and K={} vectors, asked for {}", K, kept_set.size());
  std::vector<char> is_kept(size_t(K), 0);
  for (int32_t i : kept_set) {
    DEFTNN_CHECK(i >= 0 && i < K, "kept index {} outside [0, {})", i, K);
    DEFTNN_CHECK(!is_kept[size_t(i)], "kept index {} listed twice", i);
    is_kept[size_t(i)] = 1;
  }
  const int64_t Kp = int64_t(kept_set.size());
  SvePlan p;
  p.original_k = K;
  std::vector<int32_t> misplaced_kept, misplaced_discarded;  // ascending
  for (int64_t i = Kp; i < K; ++i)
    if (is_kept[size_t(i)]) misplaced_kept.push_back(int32_t(i));
  for (int64_t i = 0; i < Kp; ++i)
    if (!is_kept[size_t(i)]) misplaced_discarded.push_back(int32_t(i));
  DEFTNN_CHECK(misplaced_kept.size() == misplaced_discarded.size(), "reorder: {} misplaced kept vs {} discarded",
               misplaced_kept.size(), misplaced_discarded.size());
  std::vector<int32_t> order(static_cast<size_t>(Kp));
  std::iota(order.begin(), order.end(), 0);
  for (size_t s = 0; s < misplaced_kept.size(); ++s) {
    p.swaps.emplace_back(misplaced_kept[s], misplaced_discarded[s]);
    order[size_t(misplaced_discarded[s])] = misplaced_kept[s];
  }
  p.kept = std::move(order);
  p.scale = scale ? float(double(K) / double(Kp)) : 1.f;
  return p;
}

void check_plan(const SvePlan& p) {
  const int64_t K = p.original_k, Kp = p.kept_k();
  DEFTNN_CHECK(K >= 1 && Kp >= 1 && Kp <= K, "SVE plan keeps {} of K={}", Kp, K);
  std::vector<int32_t> order(static_cast<size_t>(K));
  std::iota(order.begin(), order.end(), 0);
  for (auto [a, b] : p.swaps) {
    DEFTNN_CHECK(a >= Kp && a < K && b >= 0 && b < Kp, "SVE swap ({}, {}) does not cross K'={} (K={})", a, b, Kp, K);
    std::swap(order[size_t(a)], order[size_t(b)]);
  }
  for (int64_t j = 0; j < Kp; ++j)
    DEFTNN_CHECK(order[size_t(j)] == p.kept[size_t(j)],
                 "SVE plan: the swaps put vector {} in slot {} but kept lists {}", order[size_t(j)], j,
                 p.kept[size_t(j)]);
}

nlohmann::json SvePlan::to_json() const {
  nlohmann::json s = nlohmann::json::array();
  for (auto [a, b] : swaps) s.push_back({a, b});
  return {{"original_k", original_k}, {"kept", kept}, {"swaps", s}, {"scale", scale}};
}

SvePlan SvePlan::from_json(const nlohmann::json& j) {
  SvePlan p;
  p.original_k = j.at("original_k").get<int64_t>();
  p.kept = j.at("kept").get<std::vector<int32_t>>();
  for (const auto& s : j.at("swaps")) p.swaps.emplace_back(s.at(0).get<int32_t>(), s.at(1).get<int32_t>());
  p.scale = j.at("scale").get<float>();
  check_plan(p);
  return p;
}

Tensor apply_to_weight(const SvePlan& plan, const Tensor& w) {
  DEFTNN_CHECK(w.ndim() >= 2 && w.dtype() == DType::F32 && !w.is_cuda(),
               "apply_to_weight wants an F32 (M, K...) weight on the CPU, got {} {}", dtype_name(w.dtype()),
               shape_str(w.shape()));
  const int64_t M = w.dim(0), K = w.numel() / std::max<int64_t>(M, 1), Kp = plan.kept_k();
  DEFTNN_CHECK(K == plan.original_k, "SVE plan for K={} applied to a weight {} (K={})", plan.original_k,
               shape_str(w.shape()), K);
  Tensor out = Tensor::empty({M, Kp});  // (M, K')
  const float* src = w.data<float>();
  float* dst = out.data<float>();
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < Kp; ++j) dst[m * Kp + j] = src[m * K + plan.kept[size_t(j)]] * plan.scale;
  return out;
}

SveState make_state(const SvePlan& plan, SveTransform transform) {
  check_plan(plan);
  SveState s;
  s.original_k = plan.original_k;
  s.kept = plan.kept;
  s.swaps = plan.swaps;
  s.transform = transform;
  return s;
}

}  // namespace deftnn::sve
