#include "sve/search.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace deftnn::sve {

nlohmann::json SearchResult::to_json() const {
  return {{"k", k},
          {"kept", int64_t(kept.size())},
          {"density", density()},
          {"alpha", alpha},
          {"align", align},
          {"kept_by_search", kept_by_search},
          {"added_by_rounding", added_by_rounding}};
}

int64_t round_up_kept(int64_t kept, int64_t align, int64_t K) {
  DEFTNN_CHECK(align >= 1, "alignment must be >= 1, got {}", align);
  return std::min(K, (kept + align - 1) / align * align);
}

int64_t kept_count(double density, int64_t K, int64_t align) {
  DEFTNN_CHECK(density > 0 && density <= 1, "SVE density must be in (0, 1], got {}", density);
  DEFTNN_CHECK(K >= 1, "SVE needs K >= 1 synapse vectors, got {}", K);
  const int64_t nearest = std::clamp<int64_t>(std::llround(density * double(K)), 1, K);
  return round_up_kept(nearest, align, K);
}

namespace {

struct RhoView {
  const float* p;
  int64_t K;
  float operator()(int64_t i, int64_t j) const { return p[i * K + j]; }
};

RhoView check_rho(const Tensor& rho) {
  DEFTNN_CHECK(rho.ndim() == 2 && rho.dim(0) == rho.dim(1) && rho.dtype() == DType::F32 && !rho.is_cuda(),
               "the synapse search wants a square F32 correlation matrix on the CPU, got {} {} on {}",
               dtype_name(rho.dtype()), shape_str(rho.shape()), device_name(rho.device()));
  return {rho.data<float>(), rho.dim(0)};
}

// The greedy search of equation 7 at threshold thr: O(K^2) work in all, since
// each vector is removed once and each removal updates the counts by one row scan.
SearchResult greedy(RhoView rho, double thr) {
  const int64_t K = rho.K;
  const float t = float(thr);
  SearchResult r;
  r.k = K;
  r.representative.assign(size_t(K), -1);
  std::vector<char> undecided(size_t(K), 1);
  std::vector<int64_t> count(size_t(K), 0);  // R_i over the undecided vectors
  for (int64_t i = 0; i < K; ++i) {
    int64_t c = 0;
    for (int64_t j = 0; j < K; ++j) c += rho(i, j) >= t;
    count[size_t(i)] = c;
  }
  std::vector<int64_t> removed;
  int64_t left = K;
  while (left > 0) {
    int64_t best = -1;
    for (int64_t i = 0; i < K; ++i)
      if (undecided[size_t(i)] && (best < 0 || count[size_t(i)] > count[size_t(best)])) best = i;
    r.kept.push_back(int32_t(best));
    removed.clear();
    for (int64_t j = 0; j < K; ++j)
      if (undecided[size_t(j)] && (j == best || rho(best, j) >= t)) {
        undecided[size_t(j)] = 0;
        r.representative[size_t(j)] = int32_t(best);
        removed.push_back(j);
      }
    left -= int64_t(removed.size());
    for (int64_t j : removed)
      for (int64_t k = 0; k < K; ++k)
        if (undecided[size_t(k)] && rho(k, j) >= t) --count[size_t(k)];
  }
  std::sort(r.kept.begin(), r.kept.end());
  r.kept_by_search = int64_t(r.kept.size());
  return r;
}

// Re-adds discarded vectors until `want` are kept: each time the one with the
// smallest maximum correlation to a kept vector (ties: the smallest index).
void top_up(RhoView rho, SearchResult& r, int64_t want) {
  const int64_t K = rho.K;
  if (int64_t(r.kept.size()) >= want) return;
  std::vector<char> kept(size_t(K), 0);
  for (int32_t i : r.kept) kept[size_t(i)] = 1;
  std::vector<float> best(size_t(K), -2.f);  // max correlation to the kept set
  for (int64_t j = 0; j < K; ++j)
    if (!kept[size_t(j)])
      for (int32_t i : r.kept) best[size_t(j)] = std::max(best[size_t(j)], rho(i, j));
  while (int64_t(r.kept.size()) < want) {
    int64_t pick = -1;
    for (int64_t j = 0; j < K; ++j)
      if (!kept[size_t(j)] && (pick < 0 || best[size_t(j)] < best[size_t(pick)])) pick = j;
    kept[size_t(pick)] = 1;
    r.kept.push_back(int32_t(pick));
    r.representative[size_t(pick)] = int32_t(pick);
    ++r.added_by_rounding;
    for (int64_t j = 0; j < K; ++j)
      if (!kept[size_t(j)]) best[size_t(j)] = std::max(best[size_t(j)], rho(pick, j));
  }
  std::sort(r.kept.begin(), r.kept.end());
}

}  // namespace

SearchResult greedy_search(const Tensor& rho, const SearchOptions& options) {
  RhoView v = check_rho(rho);
  SearchResult r = greedy(v, options.alpha - options.tolerance);
  r.alpha = options.alpha;
  r.align = options.align;
  top_up(v, r, round_up_kept(r.kept_by_search, options.align, v.K));
  return r;
}

SearchResult search_keep_count(const Tensor& rho, int64_t target_kept, const SearchOptions& options) {
  RhoView v = check_rho(rho);
  const int64_t K = v.K;
  DEFTNN_CHECK(target_kept >= 1 && target_kept <= K, "target kept count {} outside [1, {}]", target_kept, K);
  const int64_t want = round_up_kept(target_kept, options.align, K);
  // Bisect for the largest threshold whose kept count is <= want. Below -1
  // every vector represents every other (one kept); above 1 none does.
  double lo = -1.5, hi = 1.5;
  SearchResult best = greedy(v, lo);
  if (int64_t(best.kept.size()) <= want) {
    for (int it = 0; it < 40 && hi - lo > 1e-7; ++it) {
      double mid = 0.5 * (lo + hi);
      SearchResult r = greedy(v, mid);
      if (int64_t(r.kept.size()) <= want) {
        lo = mid, best = std::move(r);
        if (int64_t(best.kept.size()) == want) break;
      } else {
        hi = mid;
      }
    }
  }
  best.alpha = lo + options.tolerance;  // the alpha that, with the tolerance, gives this threshold
  best.align = options.align;
  top_up(v, best, want);
  return best;
}

std::vector<int32_t> l1_keep(const Tensor& w, int64_t kept_count) {
  DEFTNN_CHECK(w.ndim() >= 2 && w.dtype() == DType::F32 && !w.is_cuda(),
               "l1_keep wants an F32 (M, K...) weight on the CPU, got {} {}", dtype_name(w.dtype()),
               shape_str(w.shape()));
  const int64_t M = w.dim(0), K = w.numel() / std::max<int64_t>(M, 1);
  DEFTNN_CHECK(kept_count >= 0 && kept_count <= K, "kept count {} outside [0, {}]", kept_count, K);
  const float* p = w.data<float>();
  std::vector<double> norm(size_t(K), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) norm[size_t(k)] += std::fabs(double(p[m * K + k]));
  std::vector<int32_t> order(static_cast<size_t>(K));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return norm[size_t(a)] > norm[size_t(b)]; });
  order.resize(size_t(kept_count));
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace deftnn::sve
