// correlation_matrix() against a plain fp64 Pearson reference, on the CPU and
// the GPU: random weights, constant columns, duplicates, symmetry.
#include <cmath>

#include "sve/correlation.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

// Plain fp64 Pearson correlation of the columns of w (M, K), with the
// documented convention for constant columns.
std::vector<double> pearson_reference(const std::vector<float>& w, int64_t M, int64_t K) {
  std::vector<double> mean(K, 0), sd(K, 0), rho(K * K, 0);
  std::vector<bool> constant(K, true);
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t m = 0; m < M; ++m) {
      mean[k] += w[m * K + k];
      if (w[m * K + k] != w[k]) constant[k] = false;
    }
    mean[k] /= double(M);
    for (int64_t m = 0; m < M; ++m) sd[k] += (w[m * K + k] - mean[k]) * (w[m * K + k] - mean[k]);
    sd[k] = std::sqrt(sd[k]);
  }
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < K; ++j) {
      if (i == j || (constant[i] && constant[j])) {
        rho[i * K + j] = 1;
        continue;
      }
      if (constant[i] || constant[j]) continue;
      double c = 0;
      for (int64_t m = 0; m < M; ++m) c += (w[m * K + i] - mean[i]) * (w[m * K + j] - mean[j]);
      rho[i * K + j] = c / (sd[i] * sd[j]);
    }
  return rho;
}

// Random (M, K) weight with constant columns 2, 5 (different values) and
// duplicates: column 7 = column 1, column 8 = 3 * column 1 - 0.25.
std::vector<float> structured_weight(int64_t M, int64_t K, uint64_t seed) {
  auto w = random_vector(size_t(M * K), seed);
  for (int64_t m = 0; m < M; ++m) {
    w[m * K + 2] = 0.5f;
    w[m * K + 5] = -1.25f;
    w[m * K + 7] = w[m * K + 1];
    w[m * K + 8] = 3.f * w[m * K + 1] - 0.25f;
  }
  return w;
}

void check_device(Context& ctx) {
  for (auto [M, K] : {std::pair<int64_t, int64_t>{37, 53}, {1, 9}, {200, 130}}) {
    auto w = structured_weight(M, K, uint64_t(M * 1000 + K));
    Tensor rho = sve::correlation_matrix(ctx, Tensor::from_vector({M, K}, w)).to(Device::CPU, ctx);
    ASSERT_EQ(rho.shape(), (Shape{K, K}));
    auto got = rho.to_vector(ctx);
    // fp32 Z^T Z of unit vectors: error about eps * sqrt(M) per entry; 8x margin.
    double tol = 8 * 1.19e-7 * std::sqrt(double(M)) + 1e-7;
    std::string what = fmt::format("{} M={} K={}", device_name(ctx.device()), M, K);
    if (M == 1) {
      // Every column of a one-row weight is constant: all correlations are 1.
      EXPECT_TRUE(all_close(got, std::vector<float>(size_t(K * K), 1.f), 0, 0, what));
      continue;
    }
    EXPECT_TRUE(all_close(got, pearson_reference(w, M, K), tol, 0, what));
    for (int64_t i = 0; i < K; ++i) {
      EXPECT_EQ(got[i * K + i], 1.f) << what;
      for (int64_t j = 0; j < K; ++j) {
        ASSERT_EQ(got[i * K + j], got[j * K + i]) << what << " not symmetric at " << i << "," << j;
        ASSERT_LE(std::fabs(got[i * K + j]), 1.f) << what;
      }
    }
    EXPECT_EQ(got[2 * K + 5], 1.f) << what << ": two constant columns";
    EXPECT_EQ(got[2 * K + 3], 0.f) << what << ": constant vs varying column";
    EXPECT_GE(got[1 * K + 7], 1.f - tol) << what << ": duplicate";
    EXPECT_GE(got[7 * K + 8], 1.f - tol) << what << ": scaled and shifted copy";
  }
}

TEST(SveCorrelation, CpuMatchesFp64Reference) {
  auto ctx = Context::cpu();
  check_device(*ctx);
}

TEST(SveCorrelation, GpuMatchesFp64Reference) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  check_device(*ctx);
}

TEST(SveCorrelation, AcceptsConvWeightShape) {
  auto ctx = Context::cpu();
  Tensor w = random_tensor({6, 2, 3, 3}, 11);  // (C_out, C_in/g, kh, kw): K = 18
  Tensor rho = sve::correlation_matrix(*ctx, w);
  EXPECT_EQ(rho.shape(), (Shape{18, 18}));
  EXPECT_THROW(sve::correlation_matrix(*ctx, random_tensor({5}, 1)), Error);
}

}  // namespace
}  // namespace deftnn::test
