// Least-squares reconstruction (sve/reconstruct.h): the input statistics
// against an fp64 plain-loop reference; exactness when every discarded input
// row is an affine function of a kept one (scaled, shifted duplicates); the
// identity plan gives W back; ridge keeps dead (constant) inputs solvable.
#include <cmath>
#include <numeric>

#include "gemm/gemm.h"
#include "sve/plan.h"
#include "sve/reconstruct.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

// y = W x + b for every column of x (K, n), fp64.
std::vector<double> affine(const std::vector<float>& w, const std::vector<float>& b, int64_t M, int64_t K,
                           const std::vector<float>& x, int64_t n) {
  std::vector<double> y(size_t(M * n));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < n; ++c) {
      double s = b[size_t(m)];
      for (int64_t k = 0; k < K; ++k) s += double(w[size_t(m * K + k)]) * double(x[size_t(k * n + c)]);
      y[size_t(m * n + c)] = s;
    }
  return y;
}

TEST(SveReconstruct, StatsMatchFp64Reference) {
  auto cpu = Context::cpu();
  const int64_t K = 7, n = 53;  // ragged
  std::vector<float> x = random_vector(size_t(K * n), 11, -1.f, 2.f);
  sve::InputStats st(K);
  st.add_columns(*cpu, x.data(), 20, n);  // two calls over column ranges, row stride n
  st.add_columns(*cpu, x.data() + 20, n - 20, n);
  EXPECT_EQ(st.count, n);
  auto mean = st.mean();
  auto cov = st.covariance();
  for (int64_t i = 0; i < K; ++i) {
    double mi = 0;
    for (int64_t c = 0; c < n; ++c) mi += x[size_t(i * n + c)];
    mi /= double(n);
    EXPECT_NEAR(mean[size_t(i)], mi, 1e-12);
    for (int64_t j = 0; j < K; ++j) {
      double mj = 0, s = 0;
      for (int64_t c = 0; c < n; ++c) mj += x[size_t(j * n + c)];
      mj /= double(n);
      for (int64_t c = 0; c < n; ++c) s += (x[size_t(i * n + c)] - mi) * (x[size_t(j * n + c)] - mj);
      // The Gram goes through an fp32 GEMM over n = 53 terms of size <= 4:
      // error <= n * eps32 * 4 / n = 5e-7 after dividing by n; 1e-5 leaves room.
      EXPECT_NEAR(cov[size_t(i * K + j)], s / double(n), 1e-5) << i << "," << j;
    }
  }
}

TEST(SveReconstruct, ExactForAffineDuplicateInputRows) {
  auto cpu = Context::cpu();
  const int64_t M = 5, K = 9, n = 200;
  // Rows 0..4 random and independent; row 5 = 2 x0, row 6 = -0.5 x3 + 0.25,
  // row 7 = x4, row 8 = x1 + 1.
  std::vector<float> x = random_vector(size_t(K * n), 21);
  auto row = [&](int64_t r) { return x.data() + r * n; };
  for (int64_t c = 0; c < n; ++c) {
    row(5)[c] = 2.f * row(0)[c];
    row(6)[c] = -0.5f * row(3)[c] + 0.25f;
    row(7)[c] = row(4)[c];
    row(8)[c] = row(1)[c] + 1.f;
  }
  std::vector<float> w = random_vector(size_t(M * K), 22), b = random_vector(size_t(M), 23);
  sve::InputStats st(K);
  st.add_columns(*cpu, x.data(), n, n);
  std::vector<int32_t> kept = {4, 0, 2, 1, 3};  // any order
  sve::SvePlan plan = sve::make_plan(K, kept, /*scale=*/false);
  Tensor wt = Tensor::from_vector({M, K}, w);
  sve::Reconstruction rec = sve::reconstruct_weight(plan, wt, st, /*ridge=*/0);
  ASSERT_EQ(rec.weight.shape(), (Shape{M, 5}));
  // W' x[S] + b' against W x + b in fp64 on every column.
  std::vector<float> xs(static_cast<size_t>(5 * n)), bp(static_cast<size_t>(M));
  for (int64_t a = 0; a < 5; ++a)
    for (int64_t c = 0; c < n; ++c) xs[size_t(a * n + c)] = x[size_t(plan.kept[size_t(a)] * n + c)];
  for (int64_t m = 0; m < M; ++m) bp[size_t(m)] = b[size_t(m)] + rec.bias_delta[size_t(m)];
  std::vector<double> want = affine(w, b, M, K, x, n);
  std::vector<double> got64 = affine(rec.weight.to_vector(*cpu), bp, M, 5, xs, n);
  std::vector<float> got(got64.begin(), got64.end());
  // The covariance comes from an fp32 Gram (relative error ~1e-6) and the
  // kept rows are well conditioned (independent uniform, n = 200); outputs
  // are O(3): 1e-4 absolute is ~100x the expected error.
  EXPECT_TRUE(all_close(got, want, 1e-4, 1e-4, "reconstructed outputs"));
  // The closed form for a pure duplicate: W'[:, slot of 4] = W[:, 4] + W[:, 7].
  auto wr = rec.weight.to_vector(*cpu);
  for (int64_t m = 0; m < M; ++m) {
    int64_t slot = std::find(plan.kept.begin(), plan.kept.end(), 4) - plan.kept.begin();
    EXPECT_NEAR(wr[size_t(m * 5 + slot)], w[size_t(m * K + 4)] + w[size_t(m * K + 7)], 1e-4);
  }
}

TEST(SveReconstruct, IdentityPlanGivesWeightBack) {
  auto cpu = Context::cpu();
  const int64_t M = 4, K = 6, n = 64;
  std::vector<float> x = random_vector(size_t(K * n), 31);
  std::vector<float> w = random_vector(size_t(M * K), 32);
  sve::InputStats st(K);
  st.add_columns(*cpu, x.data(), n, n);
  std::vector<int32_t> all(static_cast<size_t>(K));
  std::iota(all.begin(), all.end(), 0);
  auto rec = sve::reconstruct_weight(sve::make_plan(K, all, false), Tensor::from_vector({M, K}, w), st, 0);
  EXPECT_TRUE(all_close(rec.weight.to_vector(*cpu), w, 1e-4, 1e-4, "identity"));
  for (float d : rec.bias_delta) EXPECT_NEAR(d, 0.f, 1e-4);
}

TEST(SveReconstruct, DeadInputsNeedTheRidgeAndGetZeroWeight) {
  auto cpu = Context::cpu();
  const int64_t M = 3, K = 5, n = 40;
  std::vector<float> x = random_vector(size_t(K * n), 41);
  for (int64_t c = 0; c < n; ++c) x[size_t(2 * n + c)] = 0.f;  // a ReLU that never fires
  std::vector<float> w = random_vector(size_t(M * K), 42);
  sve::InputStats st(K);
  st.add_columns(*cpu, x.data(), n, n);
  auto plan = sve::make_plan(K, {0, 1, 2}, false);
  auto rec = sve::reconstruct_weight(plan, Tensor::from_vector({M, K}, w), st, 1e-3);
  auto wr = rec.weight.to_vector(*cpu);
  for (float v : wr) EXPECT_TRUE(std::isfinite(v));
  for (int64_t m = 0; m < M; ++m) EXPECT_NEAR(wr[size_t(m * 3 + 2)], 0.f, 1e-6);  // the dead row's column
  EXPECT_THROW(sve::reconstruct_weight(plan, Tensor::from_vector({M, K - 1}, std::vector<float>(size_t(M * (K - 1)))), st),
               Error);
}

}  // namespace
}  // namespace deftnn::test
