// The mixed-input GEMM kernels (gemm/mixed/mixed_gemm.h) on the GPU against
// the fp64 CPU reference on the decoded weights (gemm/mixed/mixed_pack.h).
//
// Tolerance of the random tests (habit 1 of STYLE.md): the kernel's products
// are exact (bf16 x bf16-exact weights), so only fp32 additions round: one per
// k16 MMA (K/16), one per group scale (K/128, 4-bit), one per split (atomics)
// and the scale multiply. Each costs at most 2^-23 of the running magnitude
// (2 ulps: tensor-core accumulation may truncate), so
//   |y - ref| <= 2 * n_add * 2^-23 * sum_k |x_k w_k|,  n_add = K/16 + K/128 + splits + 2.
// Exact tests: X in [-3, 3], W in [-2, 2], scale 1: every format holds the
// weights exactly and every partial sum is an integer below 2^24, so the
// result is compared bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/context.h"
#include "gemm/mixed/mixed_gemm.h"
#include "gemm/mixed/mixed_layout.h"
#include "gemm/mixed/mixed_pack.h"
#include "test_util.h"

namespace deftnn::mixed {
namespace {

struct Case {
  int64_t M, N, K;
};

std::string split_name(int s) { return s == kSplitAuto ? "auto" : s == kSplitOff ? "off" : std::to_string(s); }

Tensor upload_u16(const std::vector<uint16_t>& v, const Context& ctx) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::U16, Device::CPU);
  std::memcpy(t.raw(), v.data(), v.size() * 2);
  return t.to(Device::CUDA, ctx);
}

// Runs one GEMM and checks every output against the reference (exact: bit
// for bit), the padding columns of Y untouched and no NaN left from the poison.
// With use_ws the serial split-K (workspace) runs, twice on the same
// workspace (Y poisoned again in between) so that a counter left non-zero by
// the first call shows in the second.
::testing::AssertionResult run_case(Context& ctx, const WeightFormat& f, Case c, int split, bool exact,
                                    int64_t ldx_pad = 0, int64_t ldy_pad = 0, uint64_t seed = 1, bool use_ws = false) {
  const int64_t M = c.M, N = c.N, K = c.K, ldx = (K + 7) / 8 * 8 + ldx_pad, ldy = N + ldy_pad;
  std::vector<float> w = exact ? test::small_int_vector(size_t(N * K), seed, 2) : test::random_vector(size_t(N * K), seed);
  std::vector<float> x(size_t(M * ldx), std::nanf(""));  // padding columns NaN: the kernel must not read them
  {
    std::vector<float> xv = exact ? test::small_int_vector(size_t(M * K), seed + 1, 3)
                                  : test::random_vector(size_t(M * K), seed + 1);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) x[size_t(i * ldx + k)] = xv[size_t(i * K + k)];
  }
  const PackedWeights p = pack_weights(w.data(), N, K, f, 0, exact ? 1.f : 0.f);
  const std::vector<uint16_t> xb = to_bf16(x);
  std::vector<double> ref, asum;
  reference_gemm(p, xb.data(), M, ldx, ref, &asum);

  const DeviceWeights dw = upload(p, ctx);
  Tensor X = upload_u16(xb, ctx);
  const float kSentinel = 12345.f;
  std::vector<float> y0(size_t(M * ldy), kSentinel);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t n = 0; n < N; ++n) y0[size_t(i * ldy + n)] = std::nanf("");
  Tensor Y = Tensor::from_vector({int64_t(y0.size())}, y0).to(Device::CUDA, ctx);

  MixedGemmArgs a;
  a.M = M, a.X = X.raw(), a.ldx = ldx, a.W = &dw, a.Y = Y.data<float>(), a.ldy = ldy, a.split_k = split;
  const int splits = mixed_gemm_splits(a);
  MixedWorkspace ws;
  if (use_ws) {
    ws = make_mixed_workspace(ctx, a);
    a.workspace = &ws;
    mixed_gemm(ctx, a);
    Y.copy_from(Tensor::from_vector({int64_t(y0.size())}, y0), ctx);  // poison again
  }
  mixed_gemm(ctx, a);
  ctx.synchronize();
  const std::vector<float> y = Y.to_vector(ctx);

  const std::string what = f.name() + " M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" +
                           std::to_string(K) + " ldx=" + std::to_string(ldx) + " ldy=" + std::to_string(ldy) +
                           " split=" + split_name(split) + " (" + std::to_string(splits) + " splits)" +
                           (exact ? " exact" : " random") + (use_ws ? " workspace (2nd call)" : " atomics");
  const double n_add = double(K) / 16 + double(K) / 128 + splits + 2;
  size_t bad = 0, worst_i = 0;
  double worst = -1;
  std::string first;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t n = 0; n < ldy; ++n) {
      const size_t at = size_t(i * ldy + n);
      const float got = y[at];
      if (n >= N) {
        if (got != kSentinel && bad++ < 5)
          first += "\n  padding Y[" + std::to_string(i) + "][" + std::to_string(n) + "] overwritten: " + std::to_string(got);
        continue;
      }
      const double want = ref[size_t(i * N + n)];
      const double tol = exact ? 0.0 : 2 * n_add * std::ldexp(1.0, -23) * asum[size_t(i * N + n)];
      const double err = std::isfinite(got) ? std::fabs(double(got) - want) : INFINITY;
      const bool ok = exact ? (double(got) == want) : err <= tol;
      if (!ok) {
        if (bad < 5) {
          char buf[200];
          std::snprintf(buf, sizeof buf, "\n  Y[%lld][%lld] got %.9g want %.9g (err %.3g, tol %.3g)", (long long)i,
                        (long long)n, double(got), want, err, tol);
          first += buf;
        }
        ++bad;
      }
      if (err / (tol + 1e-300) > worst) worst = err / (tol + 1e-300), worst_i = at;
    }
  if (!bad) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " bad outputs of " << M * N << first
                                       << "\n  worst at flat index " << worst_i << " (row " << worst_i / size_t(ldy)
                                       << ", col " << worst_i % size_t(ldy) << "), err/tol " << worst;
}

std::vector<WeightFormat> main_formats() {
  return {WeightFormat::parse("int8"),    WeightFormat::parse("fp8e4m3"), WeightFormat::parse("deft8e3"),
          WeightFormat::parse("deft8e4"), WeightFormat::parse("int4"),    WeightFormat::parse("fp4e2m1")};
}

std::vector<Case> ragged_cases() {
  std::vector<Case> v;
  for (int64_t M : {1, 3, 16, 17, 64})
    for (int64_t N : {8, 72, 4104}) v.push_back({M, N, 384});
  for (int64_t M : {1, 17})
    for (int64_t N : {72, 4104})
      for (int64_t K : {128, 4224}) v.push_back({M, N, K});
  v.push_back({3, 72, 200});   // K not a multiple of 128 (nor of 8: scalar X tail)
  v.push_back({5, 40, 4099});  // (ldx rounded up to 8, the columns past K NaN)
  return v;
}

// The device unpack equals the host unpack bit for bit for every code in every
// position of a word (the bf16 multiply of Deft-8 / fp4 must keep denormals).
TEST(MixedGemmGpu, DeviceUnpackEqualsHost) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  for (const WeightFormat& f : all_weight_formats()) {
    const int per_word = 32 / f.bits(), codes = f.bits() == 8 ? 256 : 16, R = f.bits() == 8 ? 2 : 4;
    std::vector<uint32_t> words;
    for (int c = 0; c < codes; ++c)
      for (int pos = 0; pos < per_word; ++pos) {
        uint32_t wd = 0;
        for (int i = 0; i < per_word; ++i) wd |= uint32_t(i == pos ? c : (c * 7 + 3) % codes) << (f.bits() * i);
        words.push_back(wd);
      }
    Tensor in = Tensor::empty({int64_t(words.size())}, DType::U32, Device::CPU);
    std::memcpy(in.raw(), words.data(), words.size() * 4);
    Tensor din = in.to(Device::CUDA, *ctx);
    Tensor dout = Tensor::empty({int64_t(words.size()) * R}, DType::U32, Device::CUDA);
    mixed_unpack_device(*ctx, f, din.data<uint32_t>(), int64_t(words.size()), dout.data<uint32_t>());
    Tensor hout = dout.to(Device::CPU, *ctx);
    const uint32_t* got = hout.data<uint32_t>();
    int bad = 0;
    for (size_t i = 0; i < words.size(); ++i) {
      uint32_t want[4] = {0, 0, 0, 0};
      switch (f.kind) {
        case WeightKind::Int8: UnpackInt8::word(words[i], want); break;
        case WeightKind::FP8E4M3: UnpackE4M3::word(words[i], want); break;
        case WeightKind::Int4: UnpackInt4::word(words[i], want); break;
        case WeightKind::FP4E2M1: UnpackE2M1::word(words[i], want); break;
        case WeightKind::Deft8:
          switch (f.exp_bits) {
            case 1: UnpackDeft8<1>::word(words[i], want); break;
            case 2: UnpackDeft8<2>::word(words[i], want); break;
            case 3: UnpackDeft8<3>::word(words[i], want); break;
            case 4: UnpackDeft8<4>::word(words[i], want); break;
            case 5: UnpackDeft8<5>::word(words[i], want); break;
            case 6: UnpackDeft8<6>::word(words[i], want); break;
            case 7: UnpackDeft8<7>::word(words[i], want); break;
          }
          break;
      }
      // Equal bits, or NaN on both sides (the device's cvt writes the
      // canonical 0x7fff, the host keeps the sign; packing never stores NaN).
      const auto same = [](uint32_t g, uint32_t w) {
        for (int h = 0; h < 2; ++h) {
          const uint32_t gh = (g >> (16 * h)) & 0xffff, wh = (w >> (16 * h)) & 0xffff;
          if (gh != wh && !(std::isnan(bf16_to_float(gh)) && std::isnan(bf16_to_float(wh)))) return false;
        }
        return true;
      };
      for (int r = 0; r < R; ++r)
        if (!same(got[i * R + r], want[r]) && bad++ < 5)
          ADD_FAILURE() << f.name() << ": word 0x" << std::hex << words[i] << " (code 0x" << (i / per_word)
                        << " at position " << std::dec << (i % per_word) << ") register " << r << ": device 0x"
                        << std::hex << got[i * R + r] << " host 0x" << want[r] << " (" << std::dec
                        << bf16_to_float(got[i * R + r] & 0xffff) << ", " << bf16_to_float(got[i * R + r] >> 16)
                        << " vs " << bf16_to_float(want[r] & 0xffff) << ", " << bf16_to_float(want[r] >> 16) << ")";
    }
    EXPECT_EQ(bad, 0) << f.name();
  }
}

TEST(MixedGemmGpu, ExactSmallIntegersAllFormats) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  // every format, one shape per M-block size (MB = 1, 2, 4, and 2 z-blocks)
  for (const WeightFormat& f : all_weight_formats())
    for (Case c : {Case{1, 72, 384}, Case{17, 136, 512}, Case{64, 64, 256}, Case{130, 8, 128}})
      for (int split : {kSplitOff, kSplitAuto, 3}) {
        EXPECT_TRUE(run_case(*ctx, f, c, split, true));
        EXPECT_TRUE(run_case(*ctx, f, c, split, true, 0, 0, 1, true));
      }
}

TEST(MixedGemmGpu, ExactSmallIntegersRaggedShapes) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  for (const WeightFormat& f : main_formats())
    for (Case c : ragged_cases())
      for (int split : {kSplitOff, kSplitAuto}) EXPECT_TRUE(run_case(*ctx, f, c, split, true));
}

TEST(MixedGemmGpu, SerialSplitKWorkspace) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  for (const WeightFormat& f : main_formats())
    for (Case c : ragged_cases()) {
      EXPECT_TRUE(run_case(*ctx, f, c, kSplitAuto, true, 0, 0, 1, true));
      EXPECT_TRUE(run_case(*ctx, f, c, kSplitAuto, false, 8, 3, 2, true));
    }
}

TEST(MixedGemmGpu, RandomAgainstReference) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  for (const WeightFormat& f : main_formats())
    for (Case c : ragged_cases()) EXPECT_TRUE(run_case(*ctx, f, c, kSplitAuto, false, 0, 0, uint64_t(c.M * 7 + c.N)));
  for (const WeightFormat& f : all_weight_formats())
    for (int split : {kSplitOff, kSplitAuto, 5}) EXPECT_TRUE(run_case(*ctx, f, {16, 4104, 4224}, split, false));
}

TEST(MixedGemmGpu, LargeShapesAndManyTokens) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  for (const char* name : {"int8", "int4"}) {
    const WeightFormat f = WeightFormat::parse(name);
    EXPECT_TRUE(run_case(*ctx, f, {64, 4104, 4224}, kSplitAuto, false));
    EXPECT_TRUE(run_case(*ctx, f, {200, 520, 1152}, kSplitAuto, false));  // 4 z-blocks, the last partial
    EXPECT_TRUE(run_case(*ctx, f, {1, 4096, 11008}, kSplitAuto, true));
  }
}

TEST(MixedGemmGpu, StridedXAndY) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  // X rows padded with NaN (must not be read), Y rows padded with a sentinel (must not be written)
  for (const WeightFormat& f : main_formats())
    for (int split : {kSplitOff, kSplitAuto}) {
      EXPECT_TRUE(run_case(*ctx, f, {3, 72, 384}, split, true, 8, 3));
      EXPECT_TRUE(run_case(*ctx, f, {17, 100, 136}, split, false, 16, 5));
    }
}

TEST(MixedGemmGpu, ZeroSizes) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  const WeightFormat f = WeightFormat::parse("int8");
  std::vector<float> w(8 * 1, 1.f);
  const PackedWeights p = pack_weights(w.data(), 8, 0, f);  // K = 0: Y = 0
  const DeviceWeights dw = upload(p, *ctx);
  Tensor Y = Tensor::empty({2 * 8}, DType::F32, Device::CUDA);
  test::poison(Y, *ctx);
  Tensor X = Tensor::empty({16}, DType::U16, Device::CUDA);
  MixedGemmArgs a;
  a.M = 2, a.X = X.raw(), a.ldx = 8, a.W = &dw, a.Y = Y.data<float>();
  mixed_gemm(*ctx, a);
  for (float v : Y.to_vector(*ctx)) EXPECT_EQ(v, 0.f);
  a.M = 0;
  mixed_gemm(*ctx, a);  // nothing to do, no launch
}

// CPU: the reasons can_implement gives.
TEST(MixedGemm, CanImplementReasons) {
  MixedGemmArgs a;
  EXPECT_NE(mixed_gemm_can_implement(a).find("no uploaded weights"), std::string::npos);
  DeviceWeights w;
  w.n = 8, w.k = 16, w.np = 64, w.kp = 128;
  w.bytes = Tensor::empty({64 * 128}, DType::U8, Device::CPU);
  w.scales = Tensor::empty({64}, DType::F32, Device::CPU);
  a.W = &w;
  EXPECT_NE(mixed_gemm_can_implement(a).find("not on the GPU"), std::string::npos);
}

}  // namespace
}  // namespace deftnn::mixed
