// SvePlan: the paper's reorder on a hand-worked case, D = 0 leaves the layer
// bit-exact, the truncated product equals the hand-computed one (exactly, with
// small-integer operands), JSON round trip and consistency checks.
#include <algorithm>
#include <numeric>

#include "gemm/gemm.h"
#include "reference/gemm_ref.h"
#include "sve/correlation.h"
#include "synapse/input_transform.h"
#include "sve/plan.h"
#include "sve/search.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

// Y (M, n) = W (M, K) X (K, n) through the front door on the CPU.
std::vector<float> product(Context& ctx, const std::vector<float>& W, const float* X, int64_t M, int64_t K, int64_t n,
                           int64_t ldx) {
  std::vector<float> Y(size_t(M * n), std::nanf(""));
  GemmArgs g;
  g.M = M, g.N = n, g.K = K, g.A = W.data(), g.B = X, g.ldb = ldx, g.C = Y.data();
  gemm(ctx, g);
  return Y;
}

TEST(SvePlan, ReorderHandWorked) {
  // K = 10, kept {0, 2, 5, 7, 9}: K' = 5, misplaced kept {5, 7, 9} pair in
  // order with misplaced discarded {1, 3, 4}.
  auto p = sve::make_plan(10, {9, 0, 7, 2, 5});
  EXPECT_EQ(p.kept_k(), 5);
  EXPECT_EQ(p.swaps, (std::vector<std::pair<int32_t, int32_t>>{{5, 1}, {7, 3}, {9, 4}}));
  EXPECT_EQ(p.kept, (std::vector<int32_t>{0, 5, 2, 7, 9}));
  EXPECT_EQ(p.scale, 2.f);
  EXPECT_NO_THROW(sve::check_plan(p));
  // Already in place: no swaps.
  auto q = sve::make_plan(6, {0, 1, 2, 3});
  EXPECT_TRUE(q.swaps.empty());
  EXPECT_EQ(q.kept, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(q.scale, 1.5f);
  EXPECT_THROW(sve::make_plan(4, {0, 0}), Error);
  EXPECT_THROW(sve::make_plan(4, {4}), Error);
  EXPECT_THROW(sve::make_plan(4, {}), Error);
}

TEST(SvePlan, NoEliminationIsBitExact) {
  auto ctx = Context::cpu();
  const int64_t M = 13, K = 29, n = 31;
  std::vector<int32_t> all(K);
  std::iota(all.begin(), all.end(), 0);
  auto p = sve::make_plan(K, all);
  EXPECT_TRUE(p.identity());
  EXPECT_TRUE(p.swaps.empty());
  EXPECT_EQ(p.scale, 1.f);
  auto w = random_vector(size_t(M * K), 3);
  auto x = random_vector(size_t(K * n), 4);
  Tensor wp = sve::apply_to_weight(p, Tensor::from_vector({M, K}, w));
  EXPECT_EQ(wp.to_vector(*ctx), w);
  // Copy transform with every row kept, then the same GEMM: bit for bit.
  std::vector<float> xc(size_t(K * n), std::nanf(""));
  sve::copy_rows(*ctx, x.data(), n, n, p.kept.data(), K, xc.data(), n);
  EXPECT_EQ(product(*ctx, wp.to_vector(*ctx), xc.data(), M, K, n, n), product(*ctx, w, x.data(), M, K, n, n));
}

TEST(SvePlan, TruncatedProductIsMaskedProduct) {
  // Unscaled: W' X' = W diag(mask) X exactly (small integers), through both swap and copy.
  auto ctx = Context::cpu();
  const int64_t M = 11, K = 37, n = 23, ldx = 27;
  auto w = small_int_vector(size_t(M * K), 5);
  auto x = small_int_vector(size_t(K * ldx), 6);
  std::vector<int32_t> kept;
  for (int32_t k = 0; k < K; ++k)
    if (k % 3 != 1 && k != 36) kept.push_back(k);
  std::reverse(kept.begin(), kept.end());  // any order in
  auto p = sve::make_plan(K, kept, /*scale=*/false);
  const int64_t Kp = p.kept_k();
  auto wp = sve::apply_to_weight(p, Tensor::from_vector({M, K}, w)).to_vector(*ctx);
  std::vector<float> masked = w;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k)
      if (std::find(kept.begin(), kept.end(), int32_t(k)) == kept.end()) masked[m * K + k] = 0;
  GemmArgs g;
  g.M = M, g.N = n, g.K = K, g.ldb = ldx;
  auto ref = gemm_reference(g, masked, x, std::vector<float>(size_t(M * n), 0));
  // Copy.
  std::vector<float> xc(size_t(Kp * n), std::nanf(""));
  sve::copy_rows(*ctx, x.data(), n, ldx, p.kept.data(), Kp, xc.data(), n);
  EXPECT_TRUE(all_close(product(*ctx, wp, xc.data(), M, Kp, n, n), ref, 0, 0, "copy"));
  // Swap in place, then the leading K' rows with the original stride.
  auto xs = x;
  auto pairs = sve::flatten_pairs(p.swaps);
  sve::swap_rows(*ctx, xs.data(), n, ldx, pairs.data(), int64_t(p.swaps.size()));
  EXPECT_TRUE(all_close(product(*ctx, wp, xs.data(), M, Kp, n, ldx), ref, 0, 0, "swap"));
}

TEST(SvePlan, DuplicatedColumnsGiveTheDenseProduct) {
  // Columns come in pairs (k, k + 6) with W[:, k + 6] = W[:, k] and input rows
  // X[k + 6] = X[k]. At alpha = 1 the search keeps 0..5; scale K/K' = 2 is
  // exact, so the scaled truncated product equals the dense one bit for bit:
  // W X = sum_k 2 W[:, k] X[k] = (2 W') X'.
  auto ctx = Context::cpu();
  const int64_t M = 9, K = 12, n = 17;
  auto w = small_int_vector(size_t(M * K), 7);
  auto x = small_int_vector(size_t(K * n), 8);
  for (int64_t k = 0; k < 6; ++k) {
    for (int64_t m = 0; m < M; ++m) w[m * K + k + 6] = w[m * K + k];
    for (int64_t j = 0; j < n; ++j) x[(k + 6) * n + j] = x[k * n + j];
  }
  Tensor wt = Tensor::from_vector({M, K}, w);
  sve::SearchOptions o;
  o.alpha = 1.0;
  auto r = sve::greedy_search(sve::correlation_matrix(*ctx, wt), o);
  ASSERT_EQ(r.kept, (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
  auto p = sve::make_plan(K, r.kept);
  EXPECT_EQ(p.scale, 2.f);
  auto wp = sve::apply_to_weight(p, wt).to_vector(*ctx);
  std::vector<float> xc(size_t(6 * n));
  sve::copy_rows(*ctx, x.data(), n, n, p.kept.data(), 6, xc.data(), n);
  EXPECT_EQ(product(*ctx, wp, xc.data(), M, 6, n, n), product(*ctx, w, x.data(), M, K, n, n));
}

TEST(SvePlan, ScaleIsKOverKeptAndFoldedIntoWeight) {
  auto ctx = Context::cpu();
  const int64_t M = 4, K = 7;
  auto w = random_vector(size_t(M * K), 12);
  auto p = sve::make_plan(K, {1, 4, 6});
  EXPECT_FLOAT_EQ(p.scale, 7.f / 3.f);
  auto wp = sve::apply_to_weight(p, Tensor::from_vector({M, K}, w)).to_vector(*ctx);
  ASSERT_EQ(p.kept, (std::vector<int32_t>{4, 1, 6}));  // 4 and 6 swapped into slots 0 and 2
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(wp[m * 3 + j], w[m * K + p.kept[j]] * p.scale);
  EXPECT_THROW(sve::apply_to_weight(p, random_tensor({4, 8}, 1)), Error);
}

TEST(SvePlan, JsonRoundTripAndState) {
  auto p = sve::make_plan(20, {19, 3, 4, 11, 0, 7, 15});
  auto q = sve::SvePlan::from_json(nlohmann::json::parse(p.to_json().dump()));
  EXPECT_EQ(q.original_k, p.original_k);
  EXPECT_EQ(q.kept, p.kept);
  EXPECT_EQ(q.swaps, p.swaps);
  EXPECT_EQ(q.scale, p.scale);
  auto bad = p.to_json();
  bad["kept"][0] = 1;  // no longer what the swaps produce
  EXPECT_THROW(sve::SvePlan::from_json(bad), Error);
  SveState s = sve::make_state(p, SveTransform::Swap);
  EXPECT_TRUE(s.active());
  EXPECT_EQ(s.original_k, 20);
  EXPECT_EQ(s.kept, p.kept);
  EXPECT_EQ(s.swaps, p.swaps);
  EXPECT_EQ(s.transform, SveTransform::Swap);
}

}  // namespace
}  // namespace deftnn::test
