// The GEMM front door on every backend this machine has, against the fp64
// plain-loop reference: exact small-integer products, random values with a
// tolerance derived from K, ragged shapes, every transpose combination and
// poisoned outputs.
#include <cmath>

#include "reference/gemm_ref.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

struct Case {
  int64_t M, N, K;
  bool ta, tb, tc;
};

std::vector<Case> cases() {
  std::vector<Case> v;
  // Ragged sizes (not multiples of any tile), K below one tile, a degenerate K = 1.
  for (auto [M, N, K] : {std::tuple{1, 1, 1}, {7, 5, 3}, {33, 65, 17}, {96, 121, 363}, {61, 130, 1}})
    for (int t = 0; t < 8; ++t) v.push_back({M, N, K, bool(t & 1), bool(t & 2), bool(t & 4)});
  return v;
}

// Runs one case through gemm() on ctx and returns C as stored.
std::vector<float> run(Context& ctx, const GemmArgs& shape, const std::vector<float>& A, const std::vector<float>& B,
                       const std::vector<float>& C0, const GemmConfig& cfg) {
  Tensor a = Tensor::from_vector({int64_t(A.size())}, A).to(ctx.device(), ctx);
  Tensor b = Tensor::from_vector({int64_t(B.size())}, B).to(ctx.device(), ctx);
  Tensor c = Tensor::from_vector({int64_t(C0.size())}, C0).to(ctx.device(), ctx);
  GemmArgs g = shape;
  g.A = a.data<float>(), g.B = b.data<float>(), g.C = c.data<float>();
  gemm(ctx, g, cfg);
  return c.to_vector(ctx);
}

void check_backend(Context& ctx, KernelFamily kernel) {
  uint64_t seed = 1;
  for (const Case& k : cases()) {
    GemmArgs g;
    g.M = k.M, g.N = k.N, g.K = k.K, g.trans_a = k.ta, g.trans_b = k.tb, g.trans_c = k.tc;
    std::string what = fmt::format("{} M={} N={} K={} ta={} tb={} tc={}", kernel_family_name(kernel), k.M, k.N, k.K,
                                   k.ta, k.tb, k.tc);
    // Exact: small integers, beta = 0 over a NaN-poisoned C (every element must be written).
    auto A = small_int_vector(size_t(k.M * k.K), seed++), B = small_int_vector(size_t(k.K * k.N), seed++);
    std::vector<float> C0(size_t(k.M * k.N), std::nanf(""));
    auto ref = gemm_reference(g, A, B, C0);
    EXPECT_TRUE(all_close(run(ctx, g, A, B, C0, {kernel}), ref, 0, 0, "exact " + what));
    // Random values, alpha and beta: fp32 rounding error grows like eps * sqrt(K)
    // for random signs; 4 eps sqrt(K) sum|a b| bounds it with margin.
    A = random_vector(A.size(), seed++), B = random_vector(B.size(), seed++);
    C0 = random_vector(C0.size(), seed++);
    g.alpha = 0.75f, g.beta = -0.5f;
    ref = gemm_reference(g, A, B, C0);
    double tol = 4 * 1.19e-7 * std::sqrt(double(k.K)) * double(k.K) + 1e-6;
    EXPECT_TRUE(all_close(run(ctx, g, A, B, C0, {kernel}), ref, tol, 0, "random " + what));
  }
}

TEST(Gemm, CpuBlasMatchesReference) {
  auto ctx = Context::cpu();
  check_backend(*ctx, KernelFamily::CpuBlas);
}

TEST(Gemm, CublasMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  check_backend(*ctx, KernelFamily::Cublas);
}

TEST(Gemm, AutoPicksCpuBlasOnCpu) {
  auto ctx = Context::cpu();
  EXPECT_EQ(resolve_gemm(*ctx, {}).backend, GemmBackend::CpuBlas);
  // ... whatever the weight format (a GPU-tuned model evaluates on the CPU in fp32).
  EXPECT_EQ(resolve_gemm(*ctx, {KernelFamily::Auto, {FormatKind::Deft16Q}}).backend, GemmBackend::CpuBlas);
}

// The one resolution of a GemmConfig, per device (gemm() and the packed-weight
// cache both take its result).
TEST(Gemm, ResolvesEachConfigOnce) {
  const GemmConfig fission{KernelFamily::Auto, {FormatKind::Deft16Q}};
  EXPECT_EQ(gemm_can_implement({}, Device::CUDA), "");
  EXPECT_EQ(gemm_can_implement(fission, Device::CUDA), "");
  EXPECT_EQ(gemm_can_implement({KernelFamily::Cublas, {}, FissionPlacement::OnChip, Precision::TF32}, Device::CUDA), "");
  EXPECT_NE(gemm_can_implement({KernelFamily::Fission}, Device::CPU), "");
  EXPECT_NE(gemm_can_implement({KernelFamily::Cudnn}, Device::CUDA).find("not GEMMs"), std::string::npos);
  EXPECT_EQ(gemm_can_implement({KernelFamily::Cublas, {}, FissionPlacement::OnChip, Precision::BF16}, Device::CUDA), "");
  EXPECT_NE(gemm_can_implement({KernelFamily::Fission, {}, FissionPlacement::OnChip, Precision::BF16}, Device::CUDA)
                .find("fission kernels multiply in fp32"),
            std::string::npos);
  auto ctx = Context::cpu();
  EXPECT_THROW(resolve_gemm(*ctx, {KernelFamily::Cublas}), Error);
}

TEST(Gemm, RejectsGpuBackendOnCpuContext) {
  auto ctx = Context::cpu();
  GemmArgs g;
  g.M = g.N = g.K = 1;
  float a = 1, b = 1, c = 0;
  g.A = &a, g.B = &b, g.C = &c;
  EXPECT_THROW(gemm(*ctx, g, {KernelFamily::Cublas}), Error);
  GemmPlan cublas;  // a plan resolved for another device
  cublas.backend = GemmBackend::Cublas;
  EXPECT_THROW(gemm(*ctx, g, cublas), Error);
}

TEST(Gemm, RejectsTooSmallStride) {
  auto ctx = Context::cpu();
  std::vector<float> a(6, 1), b(6, 1), c(4, 0);
  GemmArgs g;
  g.M = 2, g.N = 2, g.K = 3, g.A = a.data(), g.B = b.data(), g.C = c.data(), g.lda = 2;
  EXPECT_THROW(gemm(*ctx, g), Error);
}

}  // namespace
}  // namespace deftnn::test
