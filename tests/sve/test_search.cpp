// The greedy synapse search (equation 7) against a plain re-counting
// reference, on constructed weights with known duplicates, with alignment
// rounding, in keep-count mode; and the L1 baseline.
#include <algorithm>
#include <numeric>
#include <set>

#include "sve/correlation.h"
#include "sve/search.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

using sve::SearchOptions;

// The search exactly as section 4.1.2 words it: recount R_i over the
// remaining vectors every round (O(K^3)).
std::vector<int32_t> greedy_reference(const std::vector<float>& rho, int64_t K, float thr) {
  std::vector<bool> left(K, true);
  std::vector<int32_t> kept;
  for (;;) {
    int64_t best = -1, best_r = -1;
    for (int64_t i = 0; i < K; ++i) {
      if (!left[i]) continue;
      int64_t r = 0;
      for (int64_t j = 0; j < K; ++j) r += left[j] && rho[i * K + j] >= thr;
      if (r > best_r) best = i, best_r = r;
    }
    if (best < 0) break;
    kept.push_back(int32_t(best));
    for (int64_t j = 0; j < K; ++j)
      if (left[j] && (j == best || rho[best * K + j] >= thr)) left[j] = false;
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

// Random symmetric "correlation" with unit diagonal.
Tensor random_rho(int64_t K, uint64_t seed) {
  auto v = random_vector(size_t(K * K), seed);
  for (int64_t i = 0; i < K; ++i) {
    v[i * K + i] = 1;
    for (int64_t j = 0; j < i; ++j) v[i * K + j] = v[j * K + i];
  }
  return Tensor::from_vector({K, K}, v);
}

TEST(SveSearch, MatchesRecountingReference) {
  for (int64_t K : {1, 7, 40, 129})
    for (double alpha : {-0.5, 0.0, 0.3, 0.7, 0.95}) {
      Tensor rho = random_rho(K, uint64_t(K));
      SearchOptions o;
      o.alpha = alpha;
      auto r = sve::greedy_search(rho, o);
      EXPECT_EQ(r.kept, greedy_reference(rho.to_vector(*Context::cpu()), K, float(alpha - o.tolerance)))
          << "K=" << K << " alpha=" << alpha;
      EXPECT_EQ(r.kept_by_search, int64_t(r.kept.size()));
      EXPECT_EQ(r.added_by_rounding, 0);
      // Every vector is represented by a kept one that correlates with it at >= alpha.
      std::set<int32_t> kept(r.kept.begin(), r.kept.end());
      const float* p = rho.data<float>();
      for (int64_t j = 0; j < K; ++j) {
        int32_t rep = r.representative[size_t(j)];
        ASSERT_TRUE(kept.count(rep)) << j;
        if (rep != j) EXPECT_GE(p[rep * K + j], float(alpha - o.tolerance));
      }
    }
}

TEST(SveSearch, HandWorkedChain) {
  // Links at alpha = 0.5: 0-1, 1-2, 2-3, 3-4. R = 2 3 3 3 2: the tie goes to
  // 1, which takes {0, 1, 2}; then R3 = R4 = 2 and 3 takes {3, 4}.
  const int64_t K = 5;
  std::vector<float> v(K * K, 0.f);
  for (int64_t i = 0; i < K; ++i) v[i * K + i] = 1;
  for (int64_t i = 0; i + 1 < K; ++i) v[i * K + i + 1] = v[(i + 1) * K + i] = 0.8f;
  SearchOptions o;
  o.alpha = 0.5;
  auto r = sve::greedy_search(Tensor::from_vector({K, K}, v), o);
  EXPECT_EQ(r.kept, (std::vector<int32_t>{1, 3}));
  EXPECT_EQ(r.representative, (std::vector<int32_t>{1, 1, 1, 3, 3}));
}

// (M, K) random weight where columns 5 and 17 copy column 1 (17 scaled and
// shifted), 30 and 39 copy 9 (30 halved), 22 copies 3.
std::vector<float> weight_with_duplicates(int64_t M, int64_t K) {
  auto w = random_vector(size_t(M * K), 99);
  for (int64_t m = 0; m < M; ++m) {
    w[m * K + 5] = w[m * K + 1];
    w[m * K + 17] = 2.5f * w[m * K + 1] + 0.3f;
    w[m * K + 30] = 0.5f * w[m * K + 9];
    w[m * K + 39] = w[m * K + 9];
    w[m * K + 22] = w[m * K + 3];
  }
  return w;
}

void check_duplicates(Context& ctx) {
  const int64_t M = 24, K = 40;
  Tensor w = Tensor::from_vector({M, K}, weight_with_duplicates(M, K));
  Tensor rho = sve::correlation_matrix(ctx, w).to(Device::CPU, ctx);
  SearchOptions o;
  o.alpha = 1.0;
  auto r = sve::greedy_search(rho, o);
  std::vector<int32_t> want;
  for (int32_t k = 0; k < K; ++k)
    if (k != 5 && k != 17 && k != 30 && k != 39 && k != 22) want.push_back(k);
  EXPECT_EQ(r.kept, want) << device_name(ctx.device());
  EXPECT_EQ(r.representative[5], 1);
  EXPECT_EQ(r.representative[17], 1);
  EXPECT_EQ(r.representative[30], 9);
  EXPECT_EQ(r.representative[39], 9);
  EXPECT_EQ(r.representative[22], 3);
  // Deterministic: the same answer again.
  EXPECT_EQ(sve::greedy_search(rho, o).kept, r.kept);
}

TEST(SveSearch, FindsExactDuplicatesAtAlphaOneCpu) {
  auto ctx = Context::cpu();
  check_duplicates(*ctx);
}

TEST(SveSearch, FindsExactDuplicatesAtAlphaOneGpu) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  check_duplicates(*ctx);
}

TEST(SveSearch, RoundsKeptCountUpToAlignment) {
  const int64_t K = 100;
  Tensor rho = random_rho(K, 5);
  const float* p = rho.data<float>();
  for (int64_t align : {1, 8, 16, 32}) {
    SearchOptions o;
    o.alpha = 0.6;
    o.align = align;
    auto r = sve::greedy_search(rho, o);
    SearchOptions plain = o;
    plain.align = 1;
    auto base = sve::greedy_search(rho, plain);
    int64_t want = std::min<int64_t>(K, (base.kept_by_search + align - 1) / align * align);
    EXPECT_EQ(int64_t(r.kept.size()), want) << "align " << align;
    EXPECT_EQ(r.kept_by_search, base.kept_by_search);
    EXPECT_EQ(r.added_by_rounding, want - base.kept_by_search);
    EXPECT_TRUE(std::includes(r.kept.begin(), r.kept.end(), base.kept.begin(), base.kept.end()));
    // The first re-added vector is the discarded one least correlated with the kept set.
    if (r.added_by_rounding > 0) {
      int64_t pick = -1;
      float pick_best = 2;
      for (int64_t j = 0; j < K; ++j) {
        if (std::binary_search(base.kept.begin(), base.kept.end(), int32_t(j))) continue;
        float b = -2;
        for (int32_t i : base.kept) b = std::max(b, p[i * K + j]);
        if (b < pick_best) pick = j, pick_best = b;
      }
      EXPECT_TRUE(std::binary_search(r.kept.begin(), r.kept.end(), int32_t(pick)));
    }
  }
  EXPECT_EQ(sve::round_up_kept(33, 16, 100), 48);
  EXPECT_EQ(sve::round_up_kept(97, 16, 100), 100);
  EXPECT_EQ(sve::round_up_kept(32, 16, 100), 32);
}

TEST(SveSearch, KeptCountIsTheNearestCountAtLeastOneAligned) {
  EXPECT_EQ(sve::kept_count(0.5, 25), 13);  // halves up
  EXPECT_EQ(sve::kept_count(0.5, 24), 12);
  EXPECT_EQ(sve::kept_count(0.01, 25), 1);  // never zero
  EXPECT_EQ(sve::kept_count(1.0, 25), 25);
  EXPECT_EQ(sve::kept_count(0.3, 100, 16), 32);  // 30 rounded up to the alignment
  EXPECT_EQ(sve::kept_count(0.97, 100, 16), 100);  // 97 -> 112, capped at K
  EXPECT_THROW(sve::kept_count(0.0, 25), Error);
  EXPECT_THROW(sve::kept_count(1.5, 25), Error);
  EXPECT_THROW(sve::kept_count(0.5, 0), Error);
  EXPECT_THROW(sve::kept_count(0.5, 25, 0), Error);
}

// The optimiser's keep-count mode turned a density into a count with
// max(1, int64_t(density * K + 0.5)) and let the search round it up to the
// alignment; kept_count gives the same count for every positive density.
TEST(SveSearch, KeptCountAgreesWithTheOptimisersFormerRule) {
  std::vector<double> densities = {0.8, 0.65, 0.5, 0.4, 0.3, 0.2, 0.1, 1.0};  // the optimiser's defaults
  for (int i = 1; i <= 200; ++i) densities.push_back(i / 200.0);
  Rng rng(5);
  for (int i = 0; i < 200; ++i) densities.push_back(1e-3 + (1 - 1e-3) * rng.uniform());
  for (double d : densities)
    for (int64_t K = 1; K <= 4608; K += (K < 300 ? 1 : 97))
      for (int64_t align : {1, 4, 16}) {
        const int64_t former = sve::round_up_kept(std::max<int64_t>(1, int64_t(d * double(K) + 0.5)), align, K);
        ASSERT_EQ(sve::kept_count(d, K, align), former) << "density " << d << " K " << K << " align " << align;
      }
}

TEST(SveSearch, KeepCountModeHitsTarget) {
  // Random weights (no structure): the keep-count mode still gets exactly the target.
  auto ctx = Context::cpu();
  Tensor w = random_tensor({64, 150}, 17);
  Tensor rho = sve::correlation_matrix(*ctx, w);
  for (int64_t target : {1, 37, 75, 150}) {
    auto r = sve::search_keep_count(rho, target, {});
    EXPECT_EQ(int64_t(r.kept.size()), target);
    EXPECT_LE(r.kept_by_search, target);
    EXPECT_EQ(r.kept_by_search + r.added_by_rounding, target);
    // The alpha found reproduces the search part.
    SearchOptions o;
    o.alpha = r.alpha;
    EXPECT_EQ(sve::greedy_search(rho, o).kept_by_search, r.kept_by_search) << target;
  }
  SearchOptions aligned;
  aligned.align = 16;
  EXPECT_EQ(sve::search_keep_count(rho, 75, aligned).kept.size(), 80u);
  EXPECT_THROW(sve::search_keep_count(rho, 0, {}), Error);
}

TEST(SveSearch, L1BaselineKeepsLargestNorms) {
  // Column k of a (3, 6) weight has L1 norm in {5, 1, 9, 3, 9, 0.5}.
  std::vector<float> w = {5, 1, 3, 1, 3, 0.5f,   //
                          0, 0, 3, -1, 3, 0,     //
                          0, 0, -3, 1, -3, 0};
  Tensor t = Tensor::from_vector({3, 6}, w);
  EXPECT_EQ(sve::l1_keep(t, 3), (std::vector<int32_t>{0, 2, 4}));
  EXPECT_EQ(sve::l1_keep(t, 1), (std::vector<int32_t>{2}));  // tie 2 vs 4: the smaller index
  EXPECT_EQ(sve::l1_keep(t, 4), (std::vector<int32_t>{0, 2, 3, 4}));
  EXPECT_EQ(sve::l1_keep(t, 6).size(), 6u);
}

}  // namespace
}  // namespace deftnn::test
