// Channel-granular search (sve/groups.h): a channel whose weight block is a
// scaled copy of another's is found and eliminated as a whole; the sve-ls fold
// of that channel is exact when its input is a scaled copy too; expansion,
// alignment, the group L1 baseline; and the errors for bad combinations.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "sve/groups.h"
#include "sve/plan.h"
#include "sve/reconstruct.h"
#include "synapse/sve_apply.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

// W (M, C * taps), random, with channel 3's block = 2.5 x channel 1's.
std::vector<float> weight_with_copied_channel(int64_t M, int64_t C, int64_t taps, uint64_t seed) {
  std::vector<float> w = random_vector(size_t(M * C * taps), seed);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t t = 0; t < taps; ++t) w[size_t(m * C * taps + 3 * taps + t)] = 2.5f * w[size_t(m * C * taps + taps + t)];
  return w;
}

TEST(SveGroups, CorrelationOfBlocksFindsTheScaledChannel) {
  auto cpu = Context::cpu();
  const int64_t M = 8, C = 6, taps = 4, K = C * taps;
  Tensor w = Tensor::from_vector({M, K}, weight_with_copied_channel(M, C, taps, 3));
  Tensor rho = sve::group_correlation_matrix(*cpu, w, taps);
  ASSERT_EQ(rho.shape(), (Shape{C, C}));
  const float* r = rho.data<float>();
  // fp32 Pearson of M * taps = 32 entries: about eps * sqrt(32) off 1.
  EXPECT_NEAR(r[1 * C + 3], 1.f, 1e-5);
  for (int64_t i = 0; i < C; ++i)
    for (int64_t j = 0; j < C; ++j)
      if (i != j && !((i == 1 && j == 3) || (i == 3 && j == 1))) EXPECT_LT(r[i * C + j], 0.99f) << i << "," << j;
  // Greedy at alpha 1: only the copy goes, as a whole channel.
  sve::SearchOptions so;
  so.alpha = 1.0;
  sve::SearchResult s = sve::group_search(rho, taps, 0, so);
  EXPECT_EQ(s.k, K);
  ASSERT_EQ(int64_t(s.kept.size()), K - taps);
  EXPECT_TRUE(sve::whole_groups(s.kept, taps));
  const bool drop3 = std::find(s.kept.begin(), s.kept.end(), 3 * taps) == s.kept.end();
  const int64_t gone = drop3 ? 3 : 1, rep = drop3 ? 1 : 3;
  for (int64_t t = 0; t < taps; ++t) {
    EXPECT_EQ(std::count(s.kept.begin(), s.kept.end(), int32_t(gone * taps + t)), 0);
    EXPECT_EQ(s.representative[size_t(gone * taps + t)], int32_t(rep * taps + t));  // tap t of the representative
  }
  EXPECT_EQ(s.kept_by_search, K - taps);
  // Keep-count mode, 4 of 6 channels: exactly 4 whole channels.
  sve::SearchResult k4 = sve::group_search(rho, taps, 4, so);
  EXPECT_EQ(int64_t(k4.kept.size()), 4 * taps);
  EXPECT_TRUE(sve::whole_groups(k4.kept, taps));
  // group 1 is the tap search on the plain correlation.
  Tensor rho1 = sve::group_correlation_matrix(*cpu, w, 1);
  EXPECT_EQ(rho1.shape(), (Shape{K, K}));
}

// Input channel 3 = 0.5 x input channel 1 (tap by tap, as im2col rows of a
// ReLU'd copy would be): sve-ls folds the eliminated channel into the kept
// one exactly, W'[:, ch1] = W[:, ch1] + 0.5 W[:, ch3], outputs unchanged.
TEST(SveGroups, LeastSquaresFoldOfACopiedChannelIsExact) {
  auto cpu = Context::cpu();
  const int64_t M = 8, C = 6, taps = 4, K = C * taps, n = 300;
  std::vector<float> wv = weight_with_copied_channel(M, C, taps, 5), b = random_vector(size_t(M), 6);
  std::vector<float> x = random_vector(size_t(K * n), 7);
  for (int64_t t = 0; t < taps; ++t)
    for (int64_t c = 0; c < n; ++c) x[size_t((3 * taps + t) * n + c)] = 0.5f * x[size_t((taps + t) * n + c)];
  Tensor w = Tensor::from_vector({M, K}, wv);
  sve::SearchOptions so;
  so.alpha = 1.0;
  sve::SearchResult s = sve::group_search(sve::group_correlation_matrix(*cpu, w, taps), taps, 0, so);
  ASSERT_EQ(int64_t(s.kept.size()), K - taps);
  const bool drop3 = std::find(s.kept.begin(), s.kept.end(), 3 * taps) == s.kept.end();
  sve::InputStats st(K);
  st.add_columns(*cpu, x.data(), n, n);
  sve::SvePlan plan = sve::make_plan(K, s.kept, /*scale=*/false);
  sve::Reconstruction rec = sve::reconstruct_weight(plan, w, st, /*ridge=*/0);
  const int64_t Kp = plan.kept_k();
  auto wr = rec.weight.to_vector(*cpu);
  double worst = 0, scale = 0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < n; ++c) {
      double want = b[size_t(m)], got = b[size_t(m)] + rec.bias_delta[size_t(m)];
      for (int64_t k = 0; k < K; ++k) want += double(wv[size_t(m * K + k)]) * x[size_t(k * n + c)];
      for (int64_t j = 0; j < Kp; ++j) got += double(wr[size_t(m * Kp + j)]) * x[size_t(plan.kept[size_t(j)] * n + c)];
      worst = std::max(worst, std::fabs(got - want));
      scale = std::max(scale, std::fabs(want));
    }
  // The covariance is an fp32 Gram (relative ~1e-6 of O(n) sums) of
  // independent uniform rows (well conditioned): 1e-4 of the outputs' size
  // is ~100x the expected error.
  EXPECT_LE(worst, 1e-4 * scale) << "outputs of size " << scale;
  // The closed form of the fold, column by column of the kept channel.
  const int64_t kept_ch = drop3 ? 1 : 3, gone_ch = drop3 ? 3 : 1;
  const double c = drop3 ? 0.5 : 2.0;  // x_gone = c x_kept
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t slot = std::find(plan.kept.begin(), plan.kept.end(), int32_t(kept_ch * taps + t)) - plan.kept.begin();
    for (int64_t m = 0; m < M; ++m)
      EXPECT_NEAR(wr[size_t(m * Kp + slot)],
                  wv[size_t(m * K + kept_ch * taps + t)] + c * wv[size_t(m * K + gone_ch * taps + t)], 1e-3);
  }
}

TEST(SveGroups, ExpandAlignAndL1) {
  sve::SearchResult g;
  g.k = 3;
  g.kept = {0, 2};
  g.representative = {0, 0, 2};
  g.kept_by_search = 2;
  sve::SearchResult e = sve::expand_groups(g, 4);
  EXPECT_EQ(e.k, 12);
  EXPECT_EQ(e.kept, (std::vector<int32_t>{0, 1, 2, 3, 8, 9, 10, 11}));
  EXPECT_EQ(e.representative[5], 1);  // tap 1 of channel 1 -> tap 1 of channel 0
  EXPECT_EQ(e.kept_by_search, 8);
  // Columns kept must be a multiple of align: groups of 25 taps, align 8 ->
  // kept channels a multiple of 8; groups of 4, align 8 -> a multiple of 2.
  EXPECT_EQ(sve::group_align(8, 25), 8);
  EXPECT_EQ(sve::group_align(8, 4), 2);
  EXPECT_EQ(sve::group_align(1, 16), 1);
  EXPECT_TRUE(sve::whole_groups({4, 5, 6, 7, 0, 1, 2, 3}, 4));
  EXPECT_FALSE(sve::whole_groups({0, 1, 2, 4}, 4));
  EXPECT_FALSE(sve::whole_groups({1, 2, 3, 4}, 4));
  // L1 over blocks: channel norms 1*4, 3*4, 2*4 -> keep channels 1 and 2.
  std::vector<float> wv;
  for (float v : {1.f, 3.f, -2.f})
    for (int t = 0; t < 4; ++t) wv.push_back(v);
  Tensor w = Tensor::from_vector({1, 12}, wv);
  EXPECT_EQ(sve::l1_keep_groups(w, 4, 2), (std::vector<int32_t>{4, 5, 6, 7, 8, 9, 10, 11}));
}

TEST(SveGroups, BadCombinationsAreErrors) {
  auto cpu = Context::cpu();
  Tensor w = random_tensor({4, 10}, 9);
  expect_words(error_of([&] { sve::group_correlation_matrix(*cpu, w, 3); }), {"group of 3", "does not divide K = 10"});
  expect_words(error_of([&] { sve::l1_keep_groups(w, 5, 3); }), {"kept group count 3", "[0, 2]"});
  // A stored state that claims channel granularity but splits a channel.
  SveState s;
  s.original_k = 8;
  s.kept = {0, 1, 2, 4};
  s.group = 4;
  expect_words(error_of([&] { check_sve(s, 8, "conv2"); }), {"layer 'conv2'", "channel granularity", "not row 3"});
  s.kept = {0, 1, 2, 3};
  check_sve(s, 8, "conv2");
  s.group = 3;
  expect_words(error_of([&] { check_sve(s, 8, "conv2"); }), {"layer 'conv2'", "group of 3", "K = 8"});
  // The group survives the model file's JSON; tap states write none.
  s.group = 4;
  EXPECT_EQ(sve_from_json(sve_to_json(s)).group, 4);
  s.group = 1;
  EXPECT_FALSE(sve_to_json(s).contains("group"));
  EXPECT_EQ(sve_from_json(sve_to_json(s)).group, 1);
}

}  // namespace
}  // namespace deftnn::test
