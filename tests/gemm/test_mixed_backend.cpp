// Kernel mixed through the GEMM front door (gemm/mixed_backend.cpp): the CPU
// emulation (CpuMixed) and both CUDA paths (the mixed-input kernel and
// cuBLASLt bf16 on the decoded weights) against the fp64 reference on the
// decoded weights with bf16 activations (gemm/mixed/mixed_pack.h); the
// measured choice; a linear layer planned with --weights.
//
// Tolerances (STYLE.md habit 1), against ref = sum_k bf16(x_k) dec(w_k) in
// fp64, with A = sum_k |x_k dec(w_k)|:
//   CPU: sgemm adds K fp32 products, each product and each addition rounds
//        once (2^-24 relative): |y - ref| <= (K + 1) 2^-24 A (1.01 for the
//        second-order terms).
//   CUDA: the kernel's bound (tests/gemm/test_mixed_gemm.cpp) or cuBLASLt's
//        fp32 accumulation over K/16 MMA steps plus its split-K partials:
//        both within 2 (K/16 + K/128 + 34) 2^-23 A, 32 splits at most. The
//        dequantized path also rounds each dec(w) = value(code) * scale to
//        bf16 once (the scale is fp32, so the product is not exact in bf16;
//        seen on the H100: 4x the accumulation bound at K = 384): + 2^-9 A.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/context.h"
#include "gemm/gemm.h"
#include "gemm/mixed/mixed_pack.h"
#include "layers/linear.h"
#include "plan/parse.h"
#include "test_util.h"

namespace deftnn {
namespace {

using test::error_of;
using test::expect_words;

struct Shape3 {
  int64_t out, tokens, K;
};

// Y (tokens, out) = X (tokens, K) dec(W)^T on ctx in `cfg`, W (out, K): the
// linear layer's layout (trans_b, trans_c). Packs once (mixed_a) when pack.
std::vector<float> run_linear_layout(Context& ctx, const GemmConfig& cfg, Shape3 s, const std::vector<float>& w,
                                     const std::vector<float>& x, bool pack) {
  Tensor W = Tensor::from_vector({s.out, s.K}, w).to(ctx.device(), ctx);
  Tensor X = Tensor::from_vector({s.tokens, s.K}, x).to(ctx.device(), ctx);
  Tensor Y = Tensor::empty({s.tokens, s.out}, DType::F32, ctx.device());
  test::poison(Y, ctx);
  GemmArgs a;
  a.M = s.out, a.N = s.tokens, a.K = s.K;
  a.A = W.data<float>(), a.lda = s.K;
  a.B = X.data<float>(), a.ldb = s.K, a.trans_b = true;
  a.C = Y.data<float>(), a.ldc = s.out, a.trans_c = true;
  MixedMatrix m;
  if (pack) m = make_mixed_matrix(ctx, W.data<float>(), s.out, s.K, s.K, cfg.weights), a.mixed_a = &m;
  gemm(ctx, a, cfg);
  ctx.synchronize();
  return Y.to_vector(ctx);
}

// The reference and its error scale: ref (tokens, out), abs (tokens, out).
void reference(const mixed::WeightFormat& f, Shape3 s, const std::vector<float>& w, const std::vector<float>& x,
               std::vector<double>& ref, std::vector<double>& abs) {
  const mixed::PackedWeights p = mixed::pack_weights(w.data(), s.out, s.K, f);
  const std::vector<uint16_t> xb = mixed::to_bf16(x);
  mixed::reference_gemm(p, xb.data(), s.tokens, s.K, ref, &abs);
}

::testing::AssertionResult within(const std::vector<float>& got, const std::vector<double>& ref,
                                  const std::vector<double>& abs, double rel_bound, const std::string& what) {
  size_t bad = 0;
  std::string first;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double tol = rel_bound * abs[i] + 1e-30;
    const double err = std::isfinite(got[i]) ? std::fabs(double(got[i]) - ref[i]) : INFINITY;
    if (err > tol && bad++ < 3)
      first += fmt::format("\n  [{}] got {:.9g} want {:.9g} (err {:.3g}, tol {:.3g})", i, got[i], ref[i], err, tol);
  }
  if (!bad) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << ref.size() << " outside" << first;
}

std::vector<mixed::WeightFormat> formats() {
  return {mixed::WeightFormat::parse("int8"), mixed::WeightFormat::parse("fp8e4m3"),
          mixed::WeightFormat::parse("deft8e4"), mixed::WeightFormat::parse("int4"),
          mixed::WeightFormat::parse("fp4e2m1")};
}

GemmConfig mixed_config(const mixed::WeightFormat& f, MixedChoice c = MixedChoice::Measure) {
  GemmConfig cfg;
  cfg.kernel = KernelFamily::Mixed, cfg.precision = Precision::BF16, cfg.weights = f, cfg.mixed_choice = c;
  return cfg;
}

TEST(MixedBackend, ResolvesPerDeviceAndRefusesWhatItCannotRun) {
  auto cpu = Context::cpu();
  const GemmConfig cfg = mixed_config(mixed::WeightFormat::parse("int4"));
  EXPECT_EQ(resolve_gemm(*cpu, cfg).backend, GemmBackend::CpuMixed);
  EXPECT_EQ(std::string(gemm_backend_name(GemmBackend::Mixed)), "mixed");
  GemmConfig bad = cfg;
  bad.precision = Precision::FP8E4M3;
  expect_words(gemm_can_implement(bad, Device::CPU), {"kernel mixed takes bf16 activations", "fp8e4m3"});
  bad = cfg;
  bad.format = Format{FormatKind::Deft16};
  expect_words(gemm_can_implement(bad, Device::CUDA), {"format deft16 belongs to kernel fission"});
  EXPECT_EQ(gemm_can_implement(cfg, Device::CUDA), "");
  LayerExec e;
  e.kernel = KernelFamily::Mixed;
  expect_words(can_implement(e, LayerKind::Conv, Device::CPU, false), {"runs linear layers only"});
  EXPECT_EQ(can_implement(e, LayerKind::Linear, Device::CPU, false), "");
}

TEST(MixedBackend, CpuMatchesTheDecodedReference) {
  auto ctx = Context::cpu();
  uint64_t seed = 1;
  for (const auto& f : formats())
    for (Shape3 s : {Shape3{72, 1, 384}, Shape3{40, 5, 200}, Shape3{136, 17, 4099}}) {
      const auto w = test::random_vector(size_t(s.out * s.K), seed++), x = test::random_vector(size_t(s.tokens * s.K), seed++);
      std::vector<double> ref, abs;
      reference(f, s, w, x, ref, abs);
      const double bound = 1.01 * double(s.K + 1) * std::ldexp(1.0, -24);
      const std::string what = fmt::format("{} out {} tokens {} K {}", f.name(), s.out, s.tokens, s.K);
      const auto packed = run_linear_layout(*ctx, mixed_config(f), s, w, x, true);
      EXPECT_TRUE(within(packed, ref, abs, bound, what + " (packed once)"));
      EXPECT_EQ(run_linear_layout(*ctx, mixed_config(f), s, w, x, false), packed) << what << ": packed per call";
    }
}

// The CPU emulation takes every layout the front door does (the CUDA paths
// only the linear layer's): C (M, N) = dec(A) (M, K) bf16(B) (K, N).
TEST(MixedBackend, CpuTakesPlainLayouts) {
  auto ctx = Context::cpu();
  const auto f = mixed::WeightFormat::parse("int8");
  const int64_t M = 24, N = 7, K = 130;
  const auto w = test::random_vector(size_t(M * K), 5), b = test::random_vector(size_t(K * N), 6);
  std::vector<float> c(size_t(M * N), std::nanf(""));
  GemmArgs a;
  a.M = M, a.N = N, a.K = K, a.A = w.data(), a.B = b.data(), a.C = c.data();
  gemm(*ctx, a, mixed_config(f));
  // the same through the linear layout: X = B^T (N, K), Y = C^T
  std::vector<float> x(size_t(N * K));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) x[size_t(n * K + k)] = b[size_t(k * N + n)];
  std::vector<double> ref, abs;
  reference(f, {M, N, K}, w, x, ref, abs);  // (N, M)
  std::vector<float> ct(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) ct[size_t(n * M + m)] = c[size_t(m * N + n)];
  EXPECT_TRUE(within(ct, ref, abs, 1.01 * double(K + 1) * std::ldexp(1.0, -24), "plain layout"));
}

// --weights fc=int4 plans the linear layer on kernel mixed: its forward
// equals the front door's on the same weights, plus the bias.
TEST(MixedBackend, LinearLayerPlannedWithWeights) {
  auto ctx = Context::cpu();
  plan::PlanFlags fl;
  fl.weights = "fcT=int4";
  const ExecPlan p = plan::from_flags(fl);
  const LayerExec e = p.exec_for("fcT", LayerKind::Linear);
  ASSERT_EQ(e.kernel, KernelFamily::Mixed);
  EXPECT_EQ(e.weights, mixed::WeightFormat::parse("int4"));
  EXPECT_EQ(plan::from_json(plan::to_json(p)), p);
  const int64_t N = 3, F = 256, out = 24;
  const auto x = test::random_vector(size_t(N * F), 11), w = test::random_vector(size_t(out * F), 12);
  Linear layer(nlohmann::json{{"type", "linear"}, {"name", "fcT"}, {"out", out}, {"bias", false}});
  layer.infer({N, F});
  layer.params()[0]->value = Tensor::from_vector({out, F}, w);
  layer.set_exec(e);
  Tensor X = Tensor::from_vector({N, F}, x), Y = Tensor::empty({N, out});
  layer.forward(*ctx, X, Y, false);
  EXPECT_EQ(Y.to_vector(*ctx), run_linear_layout(*ctx, gemm_config(e), {out, N, F}, w, x, true));
  // none takes the layer back to fp32 weights
  fl.weights = "none";
  EXPECT_EQ(plan::from_flags(fl, p).exec_for("fcT", LayerKind::Linear).kernel, KernelFamily::Auto);
  // a default of mixed weights leaves the convolutions alone
  fl.weights = "int8";
  EXPECT_EQ(plan::from_flags(fl).exec_for("conv1", LayerKind::Conv).kernel, KernelFamily::Auto);
  fl.weights = "fcT=int3";
  expect_words(error_of([&] { plan::from_flags(fl); }), {"int3"});
}

TEST(MixedBackendGpu, BothPathsMatchTheDecodedReference) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  uint64_t seed = 100;
  for (const auto& f : formats())
    for (Shape3 s : {Shape3{72, 1, 384}, Shape3{520, 16, 1152}, Shape3{136, 100, 4099}}) {
      const auto w = test::random_vector(size_t(s.out * s.K), seed++), x = test::random_vector(size_t(s.tokens * s.K), seed++);
      std::vector<double> ref, abs;
      reference(f, s, w, x, ref, abs);
      const double bound = 2 * (double(s.K) / 16 + double(s.K) / 128 + 34) * std::ldexp(1.0, -23);
      const std::string what = fmt::format("{} out {} tokens {} K {}", f.name(), s.out, s.tokens, s.K);
      for (MixedChoice c : {MixedChoice::Kernel, MixedChoice::Dequantized, MixedChoice::Measure})
        EXPECT_TRUE(within(run_linear_layout(*ctx, mixed_config(f, c), s, w, x, true), ref, abs,
                           bound + (c == MixedChoice::Kernel ? 0.0 : std::ldexp(1.0, -9)),
                           what + " " + mixed_choice_name(c)));
      EXPECT_TRUE(within(run_linear_layout(*ctx, mixed_config(f, MixedChoice::Kernel), s, w, x, false), ref, abs,
                         bound, what + " packed per call"));
    }
}

TEST(MixedBackendGpu, MeasurementIsMadeOncePerShape) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  const auto f = mixed::WeightFormat::parse("int4");
  const Shape3 s{1024, 4, 1024};
  const auto w = test::random_vector(size_t(s.out * s.K), 7), x = test::random_vector(size_t(s.tokens * s.K), 8);
  const auto y1 = run_linear_layout(*ctx, mixed_config(f), s, w, x, true);
  const auto y2 = run_linear_layout(*ctx, mixed_config(f), s, w, x, true);
  const std::vector<MixedDecision> d = mixed_decisions(*ctx);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].M, s.out);
  EXPECT_EQ(d[0].N, s.tokens);
  EXPECT_GT(d[0].kernel_ms, 0);
  EXPECT_GT(d[0].dequantized_ms, 0);
  EXPECT_EQ(d[0].chosen, d[0].kernel_ms <= d[0].dequantized_ms ? MixedChoice::Kernel : MixedChoice::Dequantized);
  EXPECT_EQ(y1, y2);  // the same path both times: the same bits
  std::cout << "int4 1024x1024, 4 tokens: kernel " << d[0].kernel_ms << " ms, dequantized " << d[0].dequantized_ms
            << " ms\n";
}

}  // namespace
}  // namespace deftnn
