#include "sve/groups.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "sve/correlation.h"

namespace deftnn::sve {

namespace {
void check_group(const Tensor& w, int64_t group, const char* what) {
  DEFTNN_CHECK(w.ndim() >= 2 && w.dtype() == DType::F32, "{} wants an F32 (M, K...) weight, got {} {}", what,
               dtype_name(w.dtype()), shape_str(w.shape()));
  const int64_t K = w.numel() / std::max<int64_t>(w.dim(0), 1);
  DEFTNN_CHECK(group >= 1 && K % group == 0,
               "{}: a group of {} synapse vectors does not divide K = {} (channel granularity groups a conv's kh*kw "
               "taps or a flattened channel's h*w features)",
               what, group, K);
}
}  // namespace

Tensor group_correlation_matrix(Context& ctx, const Tensor& w, int64_t group) {
  check_group(w, group, "group_correlation_matrix");
  const int64_t M = w.dim(0), K = w.numel() / M, G = K / group;
  const Tensor wc = w.is_cuda() ? w.to(Device::CPU, ctx) : w;
  if (group == 1) return correlation_matrix(ctx, wc.reshape({M, K})).to(Device::CPU, ctx);
  // B (M * group, G): column g is group g's block W[:, g*group .. (g+1)*group)
  // flattened row by row; the Pearson correlation of B's columns is the
  // blocks' correlation (constant blocks follow correlation.h's convention).
  Tensor b = Tensor::empty({M * group, G});
  const float* p = wc.data<float>();
  float* q = b.data<float>();
  for (int64_t m = 0; m < M; ++m)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t t = 0; t < group; ++t) q[(m * group + t) * G + g] = p[m * K + g * group + t];
  return correlation_matrix(ctx, ctx.is_cuda() ? b.to(Device::CUDA, ctx) : b).to(Device::CPU, ctx);
}

int64_t group_align(int64_t align, int64_t group) {
  DEFTNN_CHECK(align >= 1 && group >= 1, "alignment {} and group {} must be >= 1", align, group);
  return align / std::gcd(align, group);
}

SearchResult expand_groups(const SearchResult& g, int64_t group) {
  SearchResult r = g;
  r.k = g.k * group;
  r.kept.clear();
  for (int32_t c : g.kept)
    for (int64_t t = 0; t < group; ++t) r.kept.push_back(int32_t(c * group + t));
  r.representative.assign(size_t(r.k), -1);
  for (int64_t c = 0; c < g.k; ++c)
    for (int64_t t = 0; t < group; ++t)
      r.representative[size_t(c * group + t)] =
          g.representative.empty() ? -1 : int32_t(int64_t(g.representative[size_t(c)]) * group + t);
  r.kept_by_search = g.kept_by_search * group;
  r.added_by_rounding = g.added_by_rounding * group;
  return r;
}

SearchResult group_search(const Tensor& rho_groups, int64_t group, int64_t keep_groups, const SearchOptions& options) {
  SearchOptions go = options;
  go.align = group_align(options.align, group);
  SearchResult g = keep_groups > 0 ? search_keep_count(rho_groups, keep_groups, go) : greedy_search(rho_groups, go);
  SearchResult r = expand_groups(g, group);
  r.align = options.align;
  return r;
}

std::vector<int32_t> l1_keep_groups(const Tensor& w, int64_t group, int64_t kept_groups) {
  check_group(w, group, "l1_keep_groups");
  DEFTNN_CHECK(!w.is_cuda(), "l1_keep_groups wants the weight on the CPU");
  const int64_t M = w.dim(0), K = w.numel() / M, G = K / group;
  DEFTNN_CHECK(kept_groups >= 0 && kept_groups <= G, "kept group count {} outside [0, {}]", kept_groups, G);
  const float* p = w.data<float>();
  std::vector<double> norm(size_t(G), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) norm[size_t(k / group)] += std::fabs(double(p[m * K + k]));
  std::vector<int32_t> order(static_cast<size_t>(G));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return norm[size_t(a)] > norm[size_t(b)]; });
  order.resize(size_t(kept_groups));
  std::sort(order.begin(), order.end());
  std::vector<int32_t> cols;
  for (int32_t c : order)
    for (int64_t t = 0; t < group; ++t) cols.push_back(int32_t(c * group + t));
  return cols;
}

bool whole_groups(const std::vector<int32_t>& kept, int64_t group) {
  if (group <= 1) return true;
  std::vector<int32_t> s = kept;
  std::sort(s.begin(), s.end());
  if (s.size() % size_t(group)) return false;
  for (size_t i = 0; i < s.size(); i += size_t(group)) {
    if (s[i] % group) return false;
    for (int64_t t = 1; t < group; ++t)
      if (s[i + size_t(t)] != s[i] + t) return false;
  }
  return true;
}

}  // namespace deftnn::sve
