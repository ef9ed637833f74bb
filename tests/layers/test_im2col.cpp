// im2col / col2im against their definitions, written as plain loops over the
// output positions: full matrices and row subsets (SVE's fused transform),
// batches with a row stride wider than the columns, poisoned outputs. Small
// integers keep every sum exact, so all comparisons are bit for bit.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <numeric>

#include "gemm/lowp.h"
#include "layers/im2col.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

ConvGeom random_geom(Rng& rng) {
  ConvGeom g;
  g.C = 1 + int64_t(rng.below(4));
  g.kh = 1 + int64_t(rng.below(11));
  g.kw = 1 + int64_t(rng.below(11));
  g.sh = 1 + int64_t(rng.below(4));
  g.sw = 1 + int64_t(rng.below(4));
  g.ph = int64_t(rng.below(3));
  g.pw = int64_t(rng.below(3));
  g.H = (std::max<int64_t>(g.kh - 2 * g.ph, 1) + int64_t(rng.below(6))) | 1;
  g.W = (std::max<int64_t>(g.kw - 2 * g.pw, 1) + int64_t(rng.below(6))) | 1;
  return g;
}

std::string describe(const ConvGeom& g, int64_t batch, int64_t nrows) {
  return fmt::format("C={} H={} W={} kernel {}x{} stride {}x{} pad {}x{} batch={} rows={}", g.C, g.H, g.W, g.kh, g.kw,
                     g.sh, g.sw, g.ph, g.pw, batch, nrows);
}

// The definition: element (r, n*HW + ho*Wo + wo) = x[n][c][ho*sh - ph + i][wo*sw - pw + j]
// for row k = rows[r] = (c*kh + i)*kw + j, 0 in the padding.
double x_at(const std::vector<float>& x, const ConvGeom& g, int64_t image_stride, int64_t n, int64_t k, int64_t ho,
            int64_t wo, int64_t* index) {
  const int64_t c = k / (g.kh * g.kw), i = (k / g.kw) % g.kh, j = k % g.kw;
  const int64_t h = ho * g.sh - g.ph + i, w = wo * g.sw - g.pw + j;
  if (h < 0 || h >= g.H || w < 0 || w >= g.W) return *index = -1, 0.0;
  *index = n * image_stride + c * g.chan_stride() + h * g.W + w;
  return x[size_t(*index)];
}

// A pending activation as the definition: act(v + bias[c]) for an in-bounds
// value v of channel c (padding stays 0).
double act_at(double v, int64_t index, const ConvGeom& g, int64_t k, const PendingAct* act,
              const std::vector<float>& bias) {
  if (!act || index < 0) return v;
  v += act->bias ? bias[size_t(k / (g.kh * g.kw))] : 0.0;
  return act->relu && !(v > 0) ? v * act->slope : v;
}

// A 16-bit element back to a float: bf16 is fp32's upper half; fp16 by its
// fields (the test's values are small integers and halves: normal or zero).
float from_16(uint16_t h, Precision p) {
  if (p == Precision::BF16) return std::bit_cast<float>(uint32_t(h) << 16);
  const int e = (h >> 10) & 31, m = h & 1023;
  const float mag = e == 0 ? std::ldexp(float(m), -24) : e == 31 ? INFINITY : std::ldexp(float(1024 + m), e - 25);
  return (h & 0x8000) ? -mag : mag;
}

// im2row_lowp (the bf16/fp16 operand of the tensor-core convolution) against
// the same definition, transposed: out[q][r] = want[r][q] rounded to p, zero
// in the padding columns [R, ld) and rows [ncols, rows_out); ld and rows_out
// ragged past the minimum. The output starts poisoned with a pattern whose
// halves (0x3c01) are in neither format a value of this test.
void check_im2row(Context& ctx, const Tensor& xt, const ConvGeom& g, int64_t batch, int64_t image_stride,
                  const int32_t* rp, int64_t nrows, const PendingAct* act, const std::vector<double>& want,
                  int64_t ldcol, int t, const std::string& what) {
  const int64_t R = rp ? nrows : g.K(), ncols = batch * g.Ho() * g.Wo();
  const int64_t ld = (R + 1) / 2 * 2 + 2 * (t % 3), rows_out = ncols + t % 5;
  for (Precision p : {Precision::BF16, Precision::FP16}) {
    Tensor out = Tensor::empty({rows_out * ld / 2}, DType::F32, ctx.device());
    out.fill_(std::bit_cast<float>(0x3c013c01u), ctx);
    im2row_lowp(ctx, xt.data<float>(), g, batch, image_stride, p, out.raw(), ld, rows_out, rp, nrows, act);
    const std::vector<float> words = out.to_vector(ctx);
    size_t bad = 0;
    for (int64_t q = 0; q < rows_out; ++q)
      for (int64_t r = 0; r < ld; ++r) {
        const int64_t i = q * ld + r;
        const uint32_t w = std::bit_cast<uint32_t>(words[size_t(i / 2)]);
        const float got = from_16(uint16_t(i % 2 ? w >> 16 : w & 0xffff), p);
        const float expect = q < ncols && r < R ? lowp_round(float(want[size_t(r * ldcol + q)]), p) : 0.f;
        if (!(got == expect) && ++bad <= 3)
          ADD_FAILURE() << "im2row " << precision_name(p) << " " << what << ": [" << q << "][" << r << "] = " << got
                        << ", want " << expect;
      }
    EXPECT_EQ(bad, 0u) << "im2row " << precision_name(p) << " " << what << " ld " << ld << " rows " << rows_out;
  }
}

// quads: shapes where the CUDA im2col takes its 4-columns-per-thread kernel
// (ncols and ldcol multiples of 4: batches of 4 or 8).
void check_device(Context& ctx, uint64_t seed, int n_cases, bool quads = false) {
  Rng rng(seed);
  for (int t = 0; t < n_cases; ++t) {
    ConvGeom g = random_geom(rng);
    const int64_t batch = quads ? 4 * (1 + int64_t(rng.below(2))) : 1 + int64_t(rng.below(3));
    // Every third case reads a channel-major (CNHW) input: image stride H * W,
    // channel stride batch * H * W plus a gap.
    const bool cnhw = t % 3 == 2;
    if (cnhw) g.cs = batch * g.H * g.W + int64_t(rng.below(3));
    const int64_t image_stride = cnhw ? g.H * g.W : g.C * g.H * g.W + int64_t(rng.below(5));  // a gap between images
    // Every fourth case (offset 1) applies a pending bias + leaky ReLU (slope
    // 0.5 keeps small integers exact).
    std::vector<float> bias = small_int_vector(size_t(g.C), seed * 7 + uint64_t(t));
    PendingAct pending;
    const bool with_act = t % 4 == 1;
    Tensor bias_t = Tensor::from_vector({g.C}, bias).to(ctx.device(), ctx);
    if (with_act) pending = {t % 8 == 1 ? bias_t.data<float>() : nullptr, true, 0.5f};
    const PendingAct* act = with_act ? &pending : nullptr;
    const int64_t HW = g.Ho() * g.Wo(), ncols = batch * HW;
    const int64_t ldcol = ncols + (quads ? 4 * int64_t(rng.below(2)) : int64_t(rng.below(4)));
    const int64_t K = g.K();
    // Rows: all (null), or a random subset in random order.
    std::vector<int32_t> rows;
    const bool subset = t % 2 == 1;
    if (subset) {
      rows.resize(size_t(K));
      std::iota(rows.begin(), rows.end(), 0);
      for (size_t i = rows.size(); i > 1; --i) std::swap(rows[i - 1], rows[size_t(rng.below(i))]);
      rows.resize(size_t(1 + rng.below(uint64_t(K))));
    }
    const int64_t R = subset ? int64_t(rows.size()) : K;
    const std::string what = fmt::format("{} {}", device_name(ctx.device()), describe(g, batch, R));

    const auto x = small_int_vector(size_t(cnhw ? g.C * g.cs : batch * image_stride), seed * 100 + uint64_t(t));
    Tensor xt = Tensor::from_vector({int64_t(x.size())}, x).to(ctx.device(), ctx);
    Tensor rt;
    if (subset) {
      Tensor host = Tensor::empty({R}, DType::I32);
      std::copy(rows.begin(), rows.end(), host.data<int32_t>());
      rt = host.to(ctx.device(), ctx);
    }
    const int32_t* rp = subset ? rt.data<int32_t>() : nullptr;

    // im2col: every element of the R x ncols block written, padding columns untouched.
    Tensor col = Tensor::empty({R * ldcol}, DType::F32, ctx.device());
    poison(col, ctx);
    im2col(ctx, xt.data<float>(), g, batch, image_stride, col.data<float>(), ldcol, rp, subset ? R : 0, act);
    const auto got = col.to_vector(ctx);
    std::vector<double> want(got.size(), std::nan(""));
    for (int64_t r = 0; r < R; ++r) {
      const int64_t k = subset ? rows[size_t(r)] : r;
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t ho = 0; ho < g.Ho(); ++ho)
          for (int64_t wo = 0; wo < g.Wo(); ++wo) {
            int64_t idx;
            const double v = x_at(x, g, image_stride, n, k, ho, wo, &idx);
            want[size_t(r * ldcol + n * HW + ho * g.Wo() + wo)] = act_at(v, idx, g, k, act, bias);
          }
    }
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const bool pad = std::isnan(want[i]);
      if (pad ? !std::isnan(got[i]) : got[i] != want[i]) ++bad;
    }
    EXPECT_EQ(bad, 0u) << "im2col " << what << (cnhw ? " CNHW" : "") << (act ? " with act" : "");
    if (ctx.is_cuda()) check_im2row(ctx, xt, g, batch, image_stride, rp, subset ? R : 0, act, want, ldcol, t, what);
    if (cnhw) continue;  // col2im runs NCHW only (backward)

    // col2im: dx (accumulated onto a non-zero start) = start + the adjoint.
    const auto c = small_int_vector(size_t(R * ldcol), seed * 100 + uint64_t(t) + 50);
    const auto start = small_int_vector(x.size(), seed * 100 + uint64_t(t) + 60);
    std::vector<double> dwant(start.begin(), start.end());
    for (int64_t r = 0; r < R; ++r) {
      const int64_t k = subset ? rows[size_t(r)] : r;
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t ho = 0; ho < g.Ho(); ++ho)
          for (int64_t wo = 0; wo < g.Wo(); ++wo) {
            int64_t idx;
            x_at(x, g, image_stride, n, k, ho, wo, &idx);
            if (idx >= 0) dwant[size_t(idx)] += c[size_t(r * ldcol + n * HW + ho * g.Wo() + wo)];
          }
    }
    Tensor ct = Tensor::from_vector({int64_t(c.size())}, c).to(ctx.device(), ctx);
    Tensor dx = Tensor::from_vector({int64_t(start.size())}, start).to(ctx.device(), ctx);
    col2im(ctx, ct.data<float>(), g, batch, image_stride, ldcol, dx.data<float>(), rp, subset ? R : 0);
    EXPECT_TRUE(all_close(dx.to_vector(ctx), dwant, 0, 0, "col2im " + what));
  }
}

TEST(Im2col, CpuMatchesDefinition) {
  auto ctx = Context::cpu();
  check_device(*ctx, 91, 40);
}

TEST(Im2col, CudaMatchesDefinition) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  check_device(*ctx, 92, 200);
}

// The vectorized kernel (4 columns per thread, straddling images and output
// rows) and, with DEFTNN_IM2COL_SCALAR=1, the scalar one on the same shapes.
TEST(Im2col, CudaQuadKernelMatchesDefinition) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  check_device(*ctx, 93, 100, true);
  ::setenv("DEFTNN_IM2COL_SCALAR", "1", 1);
  check_device(*ctx, 94, 40, true);
  ::unsetenv("DEFTNN_IM2COL_SCALAR");
}

TEST(Im2col, RejectsBadGeometry) {
  auto ctx = Context::cpu();
  ConvGeom g;
  g.C = 1, g.H = 3, g.W = 3, g.kh = 5, g.kw = 5;
  std::vector<float> x(9), col(100);
  EXPECT_THROW(im2col(*ctx, x.data(), g, 1, 9, col.data(), 1), Error);  // kernel larger than the input
  g.kh = g.kw = 3;
  EXPECT_THROW(im2col(*ctx, x.data(), g, 2, 9, col.data(), 1), Error);  // ldcol < columns
  const int32_t bad_row = 9;
  EXPECT_THROW(im2col(*ctx, x.data(), g, 1, 9, col.data(), 1, &bad_row, 1), Error);  // row outside [0, K)
  // im2row_lowp: CUDA only, 16-bit precisions only, an even ld that holds K.
  EXPECT_THROW(im2row_lowp(*ctx, x.data(), g, 1, 9, Precision::BF16, col.data(), 10, 1), Error);  // CPU context
  EXPECT_THROW(im2row_lowp(*ctx, x.data(), g, 1, 9, Precision::FP8E4M3, col.data(), 10, 1), Error);
  EXPECT_THROW(im2row_lowp(*ctx, x.data(), g, 1, 9, Precision::BF16, col.data(), 9, 1), Error);  // odd ld
  EXPECT_THROW(im2row_lowp(*ctx, x.data(), g, 1, 9, Precision::BF16, col.data(), 8, 1), Error);  // ld < K
}

}  // namespace
}  // namespace deftnn::test
