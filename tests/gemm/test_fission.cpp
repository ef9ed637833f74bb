// The fission GEMM kernels (gemm/kernels/fission_gemm.cu) and the packing API.
//
// Every variant (each format on chip, off-chip packing, half2 compute) is
// checked against the fp64 reference computed on the decoded inputs, i.e. on
// exactly the values the kernel multiplies (A as packed, B as the kernel
// encodes it into shared memory), so only the summation order differs:
// tolerance 4 eps sqrt(K) sum|a b|. Exact small-integer products (0, +-1, +-2
// are exact in every format), ragged shapes, K = 0, K below one tile, every
// trans_b / trans_c combination, padded strides, alpha/beta and NaN-poisoned
// outputs.
#include <cmath>
#include <cstring>

#include "formats/codec.h"
#include "gemm/fission_kernels.h"
#include "gemm/pack.h"
#include "reference/gemm_ref.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

struct Variant {
  Format f;
  FissionPlacement p;
  std::string name() const {
    return f.name() + (p == FissionPlacement::OnChip ? "" : p == FissionPlacement::OffChip ? "-offchip" : "-h2");
  }
};
std::vector<Variant> variants() {
  std::vector<Variant> v;
  for (const Format& f : all_formats()) v.push_back({f, FissionPlacement::OnChip});
  for (const Format& f : all_formats())
    if (f.kind != FormatKind::FP32) v.push_back({f, FissionPlacement::OffChip});
  v.push_back({{FormatKind::Half}, FissionPlacement::Compute16});
  return v;
}

// B as the kernel sees it: each logical row k of (K, N), rounded through the
// shared-memory format in pairs along n (Nearest).
std::vector<float> decode_b(const std::vector<float>& B, int64_t K, int64_t N, bool tb, int64_t ldb, const Format& smem) {
  std::vector<float> out(B);
  std::vector<float> row(static_cast<size_t>(N)), dec(static_cast<size_t>(N));
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t n = 0; n < N; ++n) row[size_t(n)] = tb ? B[size_t(n * ldb + k)] : B[size_t(k * ldb + n)];
    codec::round_trip(smem, row.data(), dec.data(), N, Rounding::Nearest);
    for (int64_t n = 0; n < N; ++n) (tb ? out[size_t(n * ldb + k)] : out[size_t(k * ldb + n)]) = dec[size_t(n)];
  }
  return out;
}

struct Shape3 {
  int64_t M, N, K;
};

void check_variant(Context& ctx, const Variant& var, uint64_t& seed) {
  const Format fA = placement_format(var.f, var.p);
  const Format fS = var.p == FissionPlacement::OffChip ? Format{} : fA;
  const bool exact_format = var.f.kind != FormatKind::Deft16Q && var.p != FissionPlacement::Compute16;
  for (Shape3 s : {Shape3{1, 1, 1}, {7, 5, 3}, {33, 65, 17}, {130, 259, 45}, {96, 121, 363}, {61, 130, 1},
                   {257, 129, 8}, {5, 300, 0}, {300, 1, 70}, {129, 16, 200}, {260, 5, 33}})
    for (int t = 0; t < 4; ++t) {
      const bool tb = t & 1, tc = t & 2;
      const int64_t pad = (s.M + s.N) % 3;  // padded strides on some shapes
      GemmArgs g;
      g.M = s.M, g.N = s.N, g.K = s.K, g.trans_b = tb, g.trans_c = tc;
      g.lda = s.K + pad, g.ldb = (tb ? s.K : s.N) + pad, g.ldc = (tc ? s.M : s.N) + pad;
      const size_t na = size_t(s.M * g.lda), nb = size_t((tb ? s.N : s.K) * g.ldb),
                   nc = size_t((tc ? s.N : s.M) * g.ldc);
      std::string what = var.name() + " M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) +
                         " K=" + std::to_string(s.K) + " tb=" + std::to_string(tb) + " tc=" + std::to_string(tc);
      for (int kind = 0; kind < 2; ++kind) {
        std::vector<float> A = kind == 0 ? small_int_vector(na, seed++, 2) : random_vector(na, seed++);
        std::vector<float> B = kind == 0 ? small_int_vector(nb, seed++, 2) : random_vector(nb, seed++);
        std::vector<float> C0(nc, std::nanf(""));
        if (kind == 1) C0 = random_vector(nc, seed++), g.alpha = 0.75f, g.beta = -0.5f;
        else g.alpha = 1.f, g.beta = 0.f;
        // Reference on decoded inputs.
        std::vector<float> Ad = unpack_host(pack_host(A.data(), s.M, s.K, g.lda, fA, Rounding::Nearest), s.M, s.K, fA);
        GemmArgs gr = g;
        gr.lda = s.K;
        std::vector<float> Bd = decode_b(B, s.K, s.N, tb, g.ldb, fS);
        std::vector<double> ref = gemm_reference(gr, Ad, Bd, C0);
        // Run, once packing on the fly and once with a pre-packed A.
        Tensor a = Tensor::from_vector({int64_t(na)}, A).to(ctx.device(), ctx);
        Tensor b = Tensor::from_vector({int64_t(nb)}, B).to(ctx.device(), ctx);
        PackedMatrix pk;
        if (s.K > 0 && s.M > 0) {
          std::vector<float> At(size_t(s.M * s.K));
          for (int64_t m = 0; m < s.M; ++m)
            for (int64_t k = 0; k < s.K; ++k) At[size_t(m * s.K + k)] = A[size_t(m * g.lda + k)];
          pk = pack_matrix(ctx, Tensor::from_vector({s.M, s.K}, At), var.f, var.p);
        }
        for (int pre = 0; pre < 2; ++pre) {
          Tensor c = Tensor::from_vector({int64_t(nc)}, C0).to(ctx.device(), ctx);
          GemmArgs gg = g;
          gg.A = a.data<float>(), gg.B = b.data<float>(), gg.C = c.data<float>();
          gg.packed_a = (pre && !pk.empty()) ? &pk : nullptr;
          gemm(ctx, gg, {KernelFamily::Fission, var.f, var.p});
          std::vector<float> got = c.to_vector(ctx);
          double tol;
          if (var.p == FissionPlacement::Compute16) tol = std::ldexp(1.0, -9) * double(s.K) * 4 + 1e-3;
          else if (kind == 0 && exact_format) tol = 0;
          else tol = 4 * 1.19e-7 * std::sqrt(double(s.K) + 1) * double(s.K) * (kind == 0 ? 4 : 1) + 1e-6;
          // Compare the logical elements; the stride padding must stay as it was (NaN or C0).
          std::vector<float> gl;
          std::vector<double> rl;
          for (int64_t m = 0; m < s.M; ++m)
            for (int64_t n = 0; n < s.N; ++n) {
              size_t ci = size_t(tc ? n * g.ldc + m : m * g.ldc + n);
              gl.push_back(got[ci]), rl.push_back(ref[ci]);
              got[ci] = C0[ci];
            }
          for (size_t i = 0; i < got.size(); ++i)
            ASSERT_TRUE(std::memcmp(&got[i], &C0[i], 4) == 0) << what << ": padding element " << i << " written";
          ASSERT_TRUE(all_close(gl, rl, tol, 0, (kind == 0 ? "ints " : "random ") + what + (pre ? " prepacked" : "")));
        }
      }
    }
}

class FissionGemm : public ::testing::TestWithParam<int> {};

TEST_P(FissionGemm, MatchesDecodedReference) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  uint64_t seed = 100 + uint64_t(GetParam());
  check_variant(*ctx, variants()[size_t(GetParam())], seed);
}
INSTANTIATE_TEST_SUITE_P(AllVariants, FissionGemm, ::testing::Range(0, int(variants().size())),
                         [](const ::testing::TestParamInfo<int>& i) {
                           std::string n = variants()[size_t(i.param)].name();
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(FissionGemm, DevicePackingMatchesHost) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  const int64_t M = 131, K = 77;
  std::vector<float> W = random_vector(size_t(M * K), 5, -3, 3);
  // specials and tiny values (NaN left out: only its NaN-ness is specified)
  float sp[] = {0.f, -0.f, 1e-30f, -1e-42f, 65519.f, 65520.f, 1e9f, -1e9f, 448.f, 500.f, 3e38f,
                std::numeric_limits<float>::infinity(), 0x1p-25f, 0x1.8p-10f, 1e-5f, -2.5e-3f};
  for (size_t i = 0; i < sizeof(sp) / sizeof(float); ++i) W[i * 37] = sp[i];
  for (int i = 0; i < 600; ++i) W[size_t(1000 + i)] = float(std::ldexp(1.0 + i / 600.0, -30 + i / 10));
  Tensor w = Tensor::from_vector({M, K}, W).to(Device::CUDA, *ctx);
  for (const Format& f : all_formats()) {
    std::vector<uint8_t> want = pack_host(W.data(), M, K, K, f, Rounding::Nearest);
    Tensor out = Tensor::empty({int64_t(want.size())}, DType::U8, Device::CUDA);
    fission_pack_device(*ctx, w.data<float>(), K, M, K, f, out.raw());
    Tensor host = out.to(Device::CPU, *ctx);
    const uint8_t* got = static_cast<const uint8_t*>(host.raw());
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < want.size(); ++i)
      if (got[i] != want[i] && !bad++) first = i;
    EXPECT_EQ(bad, 0u) << f.name() << ": first differing byte " << first << " got " << int(got[first]) << " want "
                       << int(want[first]);
  }
}

TEST(FissionGemm, RejectsTransposedA) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  Tensor a = Tensor::zeros({4}, *ctx), b = Tensor::zeros({4}, *ctx), c = Tensor::zeros({4}, *ctx);
  GemmArgs g;
  g.M = g.N = g.K = 2, g.trans_a = true, g.A = a.data<float>(), g.B = b.data<float>(), g.C = c.data<float>();
  EXPECT_THROW(gemm(*ctx, g, {KernelFamily::Fission, {FormatKind::Deft16Q}}), Error);
}

TEST(FissionPack, HostLayoutRoundTrips) {
  auto ctx = Context::cpu();
  const int64_t M = 9, K = 5;
  std::vector<float> W = random_vector(size_t(M * K), 9);
  for (const Format& f : all_formats()) {
    PackedMatrix p = pack_matrix(*ctx, Tensor::from_vector({M, K}, W), f);
    EXPECT_EQ(p.data.numel(), packed_kp(K) * packed_row_bytes(f, M));
    std::vector<uint8_t> bytes(size_t(p.data.numel()));
    std::memcpy(bytes.data(), p.data.raw(), bytes.size());
    std::vector<float> back = unpack_host(bytes, M, K, f);
    // column k, pairs along m
    for (int64_t k = 0; k < K; ++k) {
      std::vector<float> col(static_cast<size_t>(M)), dec(static_cast<size_t>(M));
      for (int64_t m = 0; m < M; ++m) col[size_t(m)] = W[size_t(m * K + k)];
      codec::round_trip(f, col.data(), dec.data(), M, Rounding::Nearest);
      for (int64_t m = 0; m < M; ++m) ASSERT_EQ(back[size_t(m * K + k)], dec[size_t(m)]) << f.name();
    }
  }
}

}  // namespace
}  // namespace deftnn::test
