// The tensor-core precisions (bf16, fp16, fp8 e4m3) behind the GEMM front
// door: the rounding rules and the fp8 scale (gemm/lowp.h), the CPU emulated
// backend against an fp64 reference on the rounded inputs, exact
// small-integer products, ragged shapes, every transpose flag, padded strides
// and poisoned outputs; on a GPU the cuBLASLt backend against the emulation;
// and whole nets (LeNet, one layer under SVE) in each precision against fp32.
//
// Tolerances, derived (u = 2^-24, fp32's unit roundoff):
//  * Emulated vs fp64 on the same rounded inputs. A product of two bf16 (8-bit
//    significands), fp16 (11-bit) or e4m3 (4-bit) values is exact in fp32, so
//    sgemm's only error is the fp32 summation of K exact products plus the
//    alpha and scale multiplies: the classical bound |err| <= gamma_{K+3} *
//    (|alpha s_A s_B| sum_k |a_k b_k| + |beta c|), gamma_n = n u / (1 - n u).
//    We check (K + 4) u times that sum: a worst-case bound, so no margin is
//    needed, and it is tight enough to see one wrong product (a wrong product
//    moves the sum by ~|a b|, far above K u sum|a b| for K < 2^20).
//  * cuBLASLt vs the emulation: the same rounded inputs (the device
//    conversion rounds bit for bit as the host; tested exactly below), so only
//    the accumulation differs. Hopper's tensor cores accumulate bf16/fp16
//    products in fp32 but truncate rather than round inside an MMA: allow one
//    bit, u_acc = 2^-23. fp8 products go through a narrower adder inside the
//    wgmma (about 14 bits kept before cuBLASLt promotes the partial sums to
//    fp32 registers, as DeepSeek-V3's report measured on H800): u_acc = 2^-13.
//    Each side is within (K + 4) u_acc sum|a b| of the exact sum of the rounded
//    products, so |gpu - emulated| <= 2 (K + 4) u_acc (sum|a b| ...).
//    Layout or scale bugs are caught by the exact tests instead: with small
//    integers both sides must agree bit for bit.
//  * Whole nets, logits' relative L2 error against fp32: see LowpNet below.
#include <cmath>
#include <limits>

#include "gemm/kernels/lowp_convert.h"
#include "gemm/lowp.h"
#include "layers/conv.h"
#include "net/net.h"
#include "plan/parse.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

constexpr double kU = 1.0 / (1 << 24);
const Precision kPrecisions[] = {Precision::BF16, Precision::FP16, Precision::FP8E4M3};

struct Case {
  int64_t M, N, K;
  bool ta, tb, tc;
  bool padded;  // leading dimensions 3 more than tight, the gap filled with NaN
};

std::vector<Case> cases() {
  std::vector<Case> v;
  // Ragged sizes: 1, 7, 33, 130 (no multiple of 16 but one), K = 1 and K below 16.
  for (auto [M, N, K] : {std::tuple{1, 1, 1}, {7, 33, 130}, {33, 7, 1}, {130, 1, 33}, {16, 48, 32}, {1, 130, 7}})
    for (int t = 0; t < 8; ++t) v.push_back({M, N, K, bool(t & 1), bool(t & 2), bool(t & 4), false});
  v.push_back({33, 130, 7, false, false, false, true});
  v.push_back({7, 33, 130, true, true, true, true});
  return v;
}

// The stored shape of an operand: (rows, cols) with row stride ld.
struct Stored {
  int64_t rows, cols, ld;
  size_t size() const { return size_t(rows * ld); }
};

GemmArgs args_of(const Case& k) {
  GemmArgs g;
  g.M = k.M, g.N = k.N, g.K = k.K, g.trans_a = k.ta, g.trans_b = k.tb, g.trans_c = k.tc;
  const int64_t pad = k.padded ? 3 : 0;
  g.lda = (k.ta ? k.M : k.K) + pad, g.ldb = (k.tb ? k.K : k.N) + pad, g.ldc = (k.tc ? k.M : k.N) + pad;
  return g;
}
Stored stored_a(const GemmArgs& g) { return {g.trans_a ? g.K : g.M, g.trans_a ? g.M : g.K, g.lda}; }
Stored stored_b(const GemmArgs& g) { return {g.trans_b ? g.N : g.K, g.trans_b ? g.K : g.N, g.ldb}; }
Stored stored_c(const GemmArgs& g) { return {g.trans_c ? g.N : g.M, g.trans_c ? g.M : g.N, g.ldc}; }

// Values in the logical columns, NaN in the stride gap (a read there poisons C).
std::vector<float> fill(const Stored& s, const std::vector<float>& values) {
  std::vector<float> v(s.size(), std::numeric_limits<float>::quiet_NaN());
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t c = 0; c < s.cols; ++c) v[size_t(r * s.ld + c)] = values[size_t(r * s.cols + c)];
  return v;
}

// The fp64 product of the operands rounded as the backends round them, and
// per element the bound (K + 4) u_acc (|alpha s_A s_B| sum|a b| + |beta c|).
struct Reference {
  std::vector<double> value, bound;
};
Reference rounded_reference(const GemmArgs& g, Precision p, const std::vector<float>& A, const std::vector<float>& B,
                            const std::vector<float>& C0, double u_acc) {
  auto a_at = [&](int64_t m, int64_t k) { return g.trans_a ? A[size_t(k * g.lda + m)] : A[size_t(m * g.lda + k)]; };
  auto b_at = [&](int64_t k, int64_t n) { return g.trans_b ? B[size_t(n * g.ldb + k)] : B[size_t(k * g.ldb + n)]; };
  const float sa = p == Precision::FP8E4M3
                       ? fp8_scale(lowp_amax(A.data(), g.M, g.K, g.trans_a ? 1 : g.lda, g.trans_a ? g.lda : 1))
                       : 1.f;
  const float sb = p == Precision::FP8E4M3
                       ? fp8_scale(lowp_amax(B.data(), g.K, g.N, g.trans_b ? 1 : g.ldb, g.trans_b ? g.ldb : 1))
                       : 1.f;
  Reference r;
  r.value.assign(C0.begin(), C0.end());
  r.bound.assign(C0.size(), 0.0);
  for (int64_t m = 0; m < g.M; ++m)
    for (int64_t n = 0; n < g.N; ++n) {
      double s = 0, sabs = 0;
      for (int64_t k = 0; k < g.K; ++k) {
        const double prod = double(lowp_round(a_at(m, k), p, sa)) * double(lowp_round(b_at(k, n), p, sb));
        s += prod, sabs += std::fabs(prod);
      }
      const size_t ci = size_t(g.trans_c ? n * g.ldc + m : m * g.ldc + n);
      const double scale = double(g.alpha) * sa * sb;
      const double c = g.beta == 0 ? 0.0 : double(g.beta) * C0[ci];
      r.value[ci] = scale * s + c;
      r.bound[ci] = double(g.K + 4) * u_acc * (std::fabs(scale) * sabs + std::fabs(c));
    }
  return r;
}

// Elementwise |got - want| <= bound, and the stride gap of C left as it was.
::testing::AssertionResult within(const std::vector<float>& got, const Reference& ref, const Stored& c,
                                  const std::vector<float>& c0, const std::string& what) {
  size_t bad = 0;
  double worst = 0;
  std::string first;
  for (int64_t r = 0; r < c.rows; ++r)
    for (int64_t j = 0; j < c.ld; ++j) {
      const size_t i = size_t(r * c.ld + j);
      const bool gap = j >= c.cols;
      const double err = std::fabs(double(got[i]) - (gap ? double(c0[i]) : ref.value[i]));
      const bool ok = gap ? (std::isnan(c0[i]) ? std::isnan(got[i]) : got[i] == c0[i])
                          : (std::isfinite(got[i]) && err <= ref.bound[i]);
      if (!ok) {
        if (bad < 5)
          first += fmt::format("\n  [{}, {}]{} got {} want {} (bound {:.3g})", r, j, gap ? " (stride gap)" : "",
                               got[i], gap ? double(c0[i]) : ref.value[i], gap ? 0.0 : ref.bound[i]);
        ++bad;
      }
      if (!gap && ref.bound[i] > 0) worst = std::max(worst, std::isfinite(got[i]) ? err / ref.bound[i] : INFINITY);
    }
  if (!bad) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " elements off" << first
                                       << "\n  worst error / bound: " << worst;
}

std::vector<float> run(Context& ctx, const GemmArgs& shape, const std::vector<float>& A, const std::vector<float>& B,
                       const std::vector<float>& C0, const GemmConfig& cfg, const ConvertedMatrix* ca = nullptr) {
  Tensor a = Tensor::from_vector({int64_t(A.size())}, A).to(ctx.device(), ctx);
  Tensor b = Tensor::from_vector({int64_t(B.size())}, B).to(ctx.device(), ctx);
  Tensor c = Tensor::from_vector({int64_t(C0.size())}, C0).to(ctx.device(), ctx);
  GemmArgs g = shape;
  g.A = a.data<float>(), g.B = b.data<float>(), g.C = c.data<float>(), g.converted_a = ca;
  gemm(ctx, g, cfg);
  return c.to_vector(ctx);
}

GemmConfig config_of(Precision p) {
  GemmConfig c;
  c.precision = p;
  return c;
}

std::string describe(Precision p, const Case& k, const char* what) {
  return fmt::format("{} {} M={} N={} K={} ta={} tb={} tc={}{}", what, precision_name(p), k.M, k.N, k.K, k.ta, k.tb,
                     k.tc, k.padded ? " padded strides" : "");
}

// Small integers whose products and sums are exact in every precision: |x| <=
// 7 with one 7 present, so fp8's scale is 7 / 448 = 2^-6 and x / s = 64 x, an
// e4m3 value (4 significant bits, at most 448); bf16 and fp16 hold them as they are.
std::vector<float> exact_ints(size_t n, uint64_t seed) {
  std::vector<float> v = small_int_vector(n, seed, 7);
  if (!v.empty()) v[0] = 7.f;
  return v;
}

TEST(LowpRounding, FollowsTheFormats) {
  // bf16: 8 significant bits, ties to even.
  EXPECT_EQ(lowp_round(1.f + 1.f / 256, Precision::BF16), 1.f);
  EXPECT_EQ(lowp_round(1.f + 3.f / 256, Precision::BF16), 1.f + 4.f / 256);
  EXPECT_TRUE(std::isinf(lowp_round(3.5e38f, Precision::BF16)));
  // fp16: 11 bits, subnormals down to 2^-24, overflow to Inf.
  EXPECT_EQ(lowp_round(1.f + 1.f / 2048, Precision::FP16), 1.f);
  EXPECT_EQ(lowp_round(std::ldexp(1.f, -24), Precision::FP16), std::ldexp(1.f, -24));
  EXPECT_EQ(lowp_round(std::ldexp(1.f, -26), Precision::FP16), 0.f);
  EXPECT_TRUE(std::isinf(lowp_round(70000.f, Precision::FP16)));
  // e4m3: 4 bits, saturating at 448, subnormals down to 2^-9.
  EXPECT_EQ(lowp_round(464.f, Precision::FP8E4M3), 448.f);  // the tie goes to the even code, 448
  EXPECT_EQ(lowp_round(1e6f, Precision::FP8E4M3), 448.f);
  EXPECT_EQ(lowp_round(-1e6f, Precision::FP8E4M3), -448.f);
  EXPECT_EQ(lowp_round(17.f, Precision::FP8E4M3), 16.f);
  EXPECT_EQ(lowp_round(std::ldexp(1.f, -9), Precision::FP8E4M3), std::ldexp(1.f, -9));
  EXPECT_EQ(lowp_round(10.f, Precision::FP8E4M3, 2.f), 5.f);  // x / scale, not multiplied back
  EXPECT_TRUE(std::isnan(lowp_round(std::nanf(""), Precision::FP8E4M3)));
}

TEST(LowpFp8, ScaleRoundTrip) {
  EXPECT_EQ(fp8_scale(0.f), 1.f);
  EXPECT_EQ(fp8_scale(INFINITY), 1.f);
  EXPECT_EQ(fp8_scale(7.f), std::ldexp(1.f, -6));
  auto ctx = Context::cpu();
  // A weight of mixed magnitudes: its amax maps onto 448 (back to itself
  // within fp32 rounding), every normal value round-trips within e4m3's half
  // ulp (2^-4 relative), and the converted matrix carries the scale.
  std::vector<float> w = random_vector(64 * 48, 3, -3.f, 3.f);
  w[17] = -5.25f;
  const Tensor W = Tensor::from_vector({64, 48}, w);
  const ConvertedMatrix cm = convert_matrix(*ctx, W, Precision::FP8E4M3);
  const float s = cm.scale.data<float>()[0];
  EXPECT_EQ(s, 5.25f / 448.f);
  EXPECT_EQ(cm.data.data<float>()[17], -448.f);
  EXPECT_NEAR(double(cm.data.data<float>()[17]) * s, -5.25, 5.25 * 2 * kU);
  const double smallest_normal = std::ldexp(1.0, -6) * s;
  for (size_t i = 0; i < w.size(); ++i) {
    const double back = double(cm.data.data<float>()[i]) * s;
    if (std::fabs(w[i]) >= smallest_normal)
      EXPECT_LE(std::fabs(back - w[i]), std::fabs(w[i]) / 16 * (1 + 4 * kU)) << "element " << i << " = " << w[i];
    else
      EXPECT_LE(std::fabs(back - w[i]), std::ldexp(1.0, -10) * s) << "subnormal element " << i << " = " << w[i];
  }
}

TEST(LowpEmulated, ResolvesOnTheCpu) {
  auto ctx = Context::cpu();
  for (Precision p : kPrecisions) {
    EXPECT_EQ(resolve_gemm(*ctx, config_of(p)).backend, GemmBackend::CpuEmulated);
    GemmConfig c = config_of(p);
    c.kernel = KernelFamily::CpuBlas;
    EXPECT_EQ(resolve_gemm(*ctx, c).precision, p);
    c.kernel = KernelFamily::Cublas;
    EXPECT_EQ(gemm_can_implement(c, Device::CUDA), "");
    c.format = Format{FormatKind::Deft16};
    EXPECT_NE(gemm_can_implement(c, Device::CUDA).find("fission format"), std::string::npos);
  }
}

TEST(LowpEmulated, MatchesFp64OnRoundedInputs) {
  auto ctx = Context::cpu();
  uint64_t seed = 100;
  for (Precision p : kPrecisions)
    for (const Case& k : cases()) {
      GemmArgs g = args_of(k);
      const Stored sa = stored_a(g), sb = stored_b(g), sc = stored_c(g);
      // Random values of several binades (fp8's scale and subnormals matter),
      // alpha and beta; then beta = 0 over a NaN-poisoned C.
      const auto A = fill(sa, random_vector(size_t(sa.rows * sa.cols), seed++, -2.f, 2.f));
      const auto B = fill(sb, random_vector(size_t(sb.rows * sb.cols), seed++, -0.5f, 0.5f));
      auto C0 = fill(sc, random_vector(size_t(sc.rows * sc.cols), seed++));
      g.alpha = 0.75f, g.beta = -0.5f;
      EXPECT_TRUE(within(run(*ctx, g, A, B, C0, config_of(p)), rounded_reference(g, p, A, B, C0, kU), sc, C0,
                         describe(p, k, "random")));
      g.alpha = 1.f, g.beta = 0.f;
      C0.assign(C0.size(), std::numeric_limits<float>::quiet_NaN());
      EXPECT_TRUE(within(run(*ctx, g, A, B, C0, config_of(p)), rounded_reference(g, p, A, B, C0, kU), sc, C0,
                         describe(p, k, "poisoned")));
    }
}

TEST(LowpEmulated, SmallIntegersAreExact) {
  auto ctx = Context::cpu();
  uint64_t seed = 300;
  for (Precision p : kPrecisions)
    for (const Case& k : cases()) {
      GemmArgs g = args_of(k);
      const Stored sa = stored_a(g), sb = stored_b(g), sc = stored_c(g);
      const auto A = fill(sa, exact_ints(size_t(sa.rows * sa.cols), seed++));
      const auto B = fill(sb, exact_ints(size_t(sb.rows * sb.cols), seed++));
      const auto C0 = fill(sc, std::vector<float>(size_t(sc.rows * sc.cols), std::nanf("")));
      Reference ref = rounded_reference(g, p, A, B, C0, 0.0);  // bound 0: bit for bit
      EXPECT_TRUE(within(run(*ctx, g, A, B, C0, config_of(p)), ref, sc, C0, describe(p, k, "exact")));
    }
}

// A weight converted once (the layers' cache) gives what per-call conversion gives.
TEST(LowpEmulated, ConvertedWeightMatchesPerCallConversion) {
  auto ctx = Context::cpu();
  for (Precision p : kPrecisions) {
    GemmArgs g;
    g.M = 33, g.N = 7, g.K = 130, g.trans_b = true, g.trans_c = true;
    const auto A = random_vector(size_t(g.M * g.K), 7), B = random_vector(size_t(g.N * g.K), 8);
    const std::vector<float> C0(size_t(g.M * g.N), std::nanf(""));
    const ConvertedMatrix cm = convert_matrix(*ctx, Tensor::from_vector({g.M, g.K}, A), p);
    EXPECT_TRUE(all_close(run(*ctx, g, A, B, C0, config_of(p), &cm), run(*ctx, g, A, B, C0, config_of(p)), 0, 0,
                          precision_name(p)));
  }
}

// ---------------------------------------------------------------- GPU
// u_acc of the tensor cores (see the top of the file).
double gpu_u_acc(Precision p) { return p == Precision::FP8E4M3 ? 1.0 / (1 << 13) : 1.0 / (1 << 23); }

TEST(LowpCuda, ResolvesToCublasLt) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  for (Precision p : kPrecisions) {
    EXPECT_EQ(resolve_gemm(*ctx, config_of(p)).backend, GemmBackend::CublasLt);
    GemmConfig c = config_of(p);
    c.kernel = KernelFamily::Cublas;
    EXPECT_EQ(resolve_gemm(*ctx, c).backend, GemmBackend::CublasLt);
  }
}

// The device conversion rounds as the host does, bit for bit: a product with a
// one-hot B returns the rounded A column (times the scales) exactly.
TEST(LowpCuda, DeviceConversionRoundsAsTheHost) {
  DEFTNN_REQUIRE_GPU();
  auto gpu = Context::cuda();
  auto cpu = Context::cpu();
  for (Precision p : kPrecisions) {
    GemmArgs g;
    g.M = 130, g.N = 16, g.K = 16;
    // A's values span many binades, including fp16/e4m3 subnormals and ties.
    std::vector<float> A = random_vector(size_t(g.M * g.K), 11, -1.f, 1.f);
    for (size_t i = 0; i < A.size(); ++i) A[i] = std::ldexp(A[i], int(i % 40) - 30);
    A[5] = 1.f + 1.f / 256, A[6] = 1.f + 1.f / 2048;  // bf16 and fp16 ties
    std::vector<float> B(size_t(g.K * g.N), 0.f);
    for (int64_t k = 0; k < g.K; ++k) B[size_t(k * g.N + k)] = 1.f;  // identity: C = A
    const std::vector<float> C0(size_t(g.M * g.N), std::nanf(""));
    // bf16/fp16: C is the rounded A itself, bit for bit. fp8: C = q_A s_A q_B
    // s_B with q_B = 448, s_B = 1/448, and the scale multiplies may round in
    // another order (a few fp32 ulps); one e4m3 step is 2^-4 relative.
    const double rtol = p == Precision::FP8E4M3 ? 16 * kU : 0;
    EXPECT_TRUE(all_close(run(*gpu, g, A, B, C0, config_of(p)), run(*cpu, g, A, B, C0, config_of(p)), 0, rtol,
                          fmt::format("{} conversion, device vs host", precision_name(p))));
  }
}

// The device amax (fp8's per-call activation scale) equals the host's, exactly
// (a max is exact): rows or columns of unit stride, padded leading dimensions,
// ragged sizes across the launcher's block split, a NaN ignored, the largest
// magnitude negative, and a matrix wider than one grid row of blocks.
TEST(LowpCuda, AmaxMatchesTheHost) {
  DEFTNN_REQUIRE_GPU();
  auto gpu = Context::cuda();
  struct Case { int64_t rows, cols; bool col_major; int64_t pad; };
  for (const Case c : {Case{1, 1, false, 0}, Case{7, 3, false, 5}, Case{7, 3, true, 2}, Case{363, 1001, false, 0},
                       Case{1001, 363, true, 3}, Case{3, 600000, false, 0}, Case{600000, 2, true, 0}}) {
    const int64_t ld = (c.col_major ? c.rows : c.cols) + c.pad;
    const int64_t rs = c.col_major ? 1 : ld, cs = c.col_major ? ld : 1;
    const int64_t n = (c.col_major ? c.cols : c.rows) * ld;
    std::vector<float> x = random_vector(size_t(n), uint32_t(c.rows * 31 + c.cols), -1.f, 1.f);
    const int64_t r0 = c.rows / 2, c0 = c.cols - 1;  // the largest magnitude, negative
    x[size_t(r0 * rs + c0 * cs)] = -7.5f;
    if (c.rows * c.cols > 1) x[0] = std::nanf("");  // fmaxf drops NaN on both sides
    for (int64_t i = 0; i < n; ++i)  // padding past the matrix holds a larger value that must not count
      if (i % ld >= (c.col_major ? c.rows : c.cols)) x[size_t(i)] = 100.f;
    const float host = lowp_amax(x.data(), c.rows, c.cols, rs, cs);
    Tensor xd = Tensor::from_vector({n}, x).to(Device::CUDA, *gpu);
    Tensor out = Tensor::empty({1}, DType::F32, Device::CUDA);
    lowp_amax_device(xd.data<float>(), c.rows, c.cols, rs, cs, out.data<float>(), gpu->stream());
    const float dev = out.to_vector(*gpu)[0];
    EXPECT_EQ(dev, host) << c.rows << " x " << c.cols << (c.col_major ? " column-major" : " row-major") << " pad "
                         << c.pad;
    EXPECT_EQ(host, 7.5f) << "host amax";
  }
}

TEST(LowpCuda, MatchesEmulation) {
  DEFTNN_REQUIRE_GPU();
  auto gpu = Context::cuda();
  auto cpu = Context::cpu();
  uint64_t seed = 500;
  for (Precision p : kPrecisions)
    for (const Case& k : cases()) {
      GemmArgs g = args_of(k);
      const Stored sa = stored_a(g), sb = stored_b(g), sc = stored_c(g);
      const auto A = fill(sa, random_vector(size_t(sa.rows * sa.cols), seed++, -2.f, 2.f));
      const auto B = fill(sb, random_vector(size_t(sb.rows * sb.cols), seed++, -0.5f, 0.5f));
      for (float beta : {-0.5f, 0.f}) {
        g.alpha = beta == 0 ? 1.f : 0.75f, g.beta = beta;
        const auto C0 = fill(sc, beta == 0 ? std::vector<float>(size_t(sc.rows * sc.cols), std::nanf(""))
                                           : random_vector(size_t(sc.rows * sc.cols), seed++));
        // The emulation as the reference value, the bound from both sides' accumulation.
        Reference ref = rounded_reference(g, p, A, B, C0, 2 * gpu_u_acc(p));
        const std::vector<float> emu = run(*cpu, g, A, B, C0, config_of(p));
        for (int64_t r = 0; r < sc.rows; ++r)
          for (int64_t j = 0; j < sc.cols; ++j) ref.value[size_t(r * sc.ld + j)] = emu[size_t(r * sc.ld + j)];
        EXPECT_TRUE(within(run(*gpu, g, A, B, C0, config_of(p)), ref, sc, C0, describe(p, k, "cublaslt vs emulated")));
      }
    }
}

TEST(LowpCuda, SmallIntegersAreExact) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  uint64_t seed = 700;
  for (Precision p : kPrecisions)
    for (const Case& k : cases()) {
      GemmArgs g = args_of(k);
      const Stored sa = stored_a(g), sb = stored_b(g), sc = stored_c(g);
      const auto A = fill(sa, exact_ints(size_t(sa.rows * sa.cols), seed++));
      const auto B = fill(sb, exact_ints(size_t(sb.rows * sb.cols), seed++));
      const auto C0 = fill(sc, std::vector<float>(size_t(sc.rows * sc.cols), std::nanf("")));
      Reference ref = rounded_reference(g, p, A, B, C0, 0.0);
      EXPECT_TRUE(within(run(*ctx, g, A, B, C0, config_of(p)), ref, sc, C0, describe(p, k, "cublaslt exact")));
    }
}

TEST(LowpCuda, ConvertedWeightMatchesPerCallConversion) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  for (Precision p : kPrecisions)
    for (bool tc : {false, true}) {
      GemmArgs g;
      g.M = 33, g.N = 7, g.K = 130, g.trans_b = tc, g.trans_c = tc;
      const auto A = random_vector(size_t(g.M * g.K), 7), B = random_vector(size_t(g.N * g.K), 8);
      const std::vector<float> C0(size_t(g.M * g.N), std::nanf(""));
      const ConvertedMatrix cm = convert_matrix(*ctx, Tensor::from_vector({g.M, g.K}, A).to(Device::CUDA, *ctx), p);
      EXPECT_EQ(cm.ld, lowp_round_up(g.K));
      EXPECT_TRUE(all_close(run(*ctx, g, A, B, C0, config_of(p), &cm), run(*ctx, g, A, B, C0, config_of(p)), 0, 0,
                            fmt::format("{} trans_c={}: cached weight vs per-call conversion", precision_name(p), tc)));
    }
}

// ---------------------------------------------------------------- nets
// LeNet (xavier weights, inputs U[0, 1]) in each precision against fp32; the
// relative L2 error of the logits. Per GEMM each operand carries a relative
// rounding error of at most u_p (bf16 2^-8, fp16 2^-11, e4m3 2^-4 for normal
// values), so each product at most 2 u_p; with random signs the error of a
// sum relative to its root-mean-square size stays near 2 u_p, and four GEMM
// layers add up to about 8 u_p: bf16 2^-5, fp16 2^-8, fp8 1/2; the test
// checks that estimate. Seen on the CPU (seed 5, batch 5): bf16 0.0052,
// fp16 0.00071, fp8 0.073 (with SVE on conv2: 0.0050, 0.00080, 0.065), so the
// estimate holds with a margin of about 6.
double net_tolerance(Precision p) {
  switch (p) {
    case Precision::BF16: return 1.0 / 32;
    case Precision::FP16: return 1.0 / 256;
    default: return 1.0 / 2;
  }
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// LeNet's logits with every GEMM layer in precision p; with `sve`, conv2
// keeps 400 of its 500 input rows (every fifth dropped).
std::vector<float> lenet_logits(Context& ctx, Precision p, bool sve) {
  Net net = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/lenet.json");
  net.init(5);
  if (sve) {
    SveState st;
    st.original_k = 500;
    for (int32_t k = 0; k < 500; ++k)
      if (k % 5 != 4) st.kept.push_back(k);
    auto* conv2 = static_cast<Conv2d*>(net.find("conv2"));
    conv2->set_sve(st, random_tensor({50, 400}, 9, -0.1f, 0.1f));
  }
  net.to(ctx);
  LayerExec e;
  e.precision = p;
  for (size_t i = 0; i < net.size(); ++i)
    if (GemmLayer* g = net.layer(i).as_gemm()) g->set_exec(e);
  Shape in = {5};
  for (int64_t d : net.input_shape()) in.push_back(d);
  Tensor x = random_tensor(in, 21, 0.f, 1.f).to(ctx.device(), ctx);
  net.forward(ctx, x, false);  // the first pass converts the weights
  return net.forward(ctx, x, false).to_vector(ctx);
}

TEST(LowpNet, LenetInEachPrecisionNearFp32OnTheCpu) {
  auto ctx = Context::cpu();
  for (bool sve : {false, true}) {
    const std::vector<float> ref = lenet_logits(*ctx, Precision::FP32, sve);
    for (Precision p : kPrecisions) {
      const double err = rel_l2(lenet_logits(*ctx, p, sve), ref);
      EXPECT_LT(err, net_tolerance(p)) << precision_name(p) << (sve ? " with SVE on conv2" : "");
      EXPECT_GT(err, 0) << precision_name(p) << ": no rounding at all? the precision did not reach the GEMMs";
    }
  }
}

TEST(LowpNet, LenetOnCublasLtNearFp32AndTheEmulation) {
  DEFTNN_REQUIRE_GPU();
  auto gpu = Context::cuda();
  auto cpu = Context::cpu();
  for (bool sve : {false, true}) {
    const std::vector<float> ref = lenet_logits(*gpu, Precision::FP32, sve);
    for (Precision p : kPrecisions) {
      const std::vector<float> got = lenet_logits(*gpu, p, sve);
      const std::string what = std::string(precision_name(p)) + (sve ? " with SVE on conv2" : "");
      EXPECT_LT(rel_l2(got, ref), net_tolerance(p)) << what << " on cuBLASLt vs fp32 cuBLAS";
      // Against the emulation: the same rounding, but a different summation
      // order can move an activation across a rounding boundary of the next
      // layer's conversion (one ulp of p for that element): a quarter of the
      // fp32 tolerance.
      EXPECT_LT(rel_l2(got, lenet_logits(*cpu, p, sve)), net_tolerance(p) / 4) << what << " on cuBLASLt vs emulated";
    }
  }
}

}  // namespace
}  // namespace deftnn::test
