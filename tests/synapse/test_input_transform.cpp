// The run-time input transforms (swap, copy; rows and columns) against a
// plain reference, on ragged shapes with padded strides, CPU and CUDA. Outputs
// are poisoned first; padding must stay untouched.
#include <cmath>
#include <cstring>

#include "synapse/input_transform.h"
#include "sve/plan.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

struct Shape2 {
  int64_t K, n, ld;  // synapses, the other dimension, padded row stride
};

// A kept set of about `density` * K vectors, spread irregularly.
sve::SvePlan some_plan(int64_t K, double density, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> kept;
  for (int32_t k = 0; k < K; ++k)
    if (rng.uniform() < density) kept.push_back(k);
  if (kept.empty()) kept.push_back(int32_t(K - 1));
  return sve::make_plan(K, kept);
}

Tensor on(Context& ctx, const std::vector<int32_t>& v) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::I32);
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(int32_t));
  return t.to(ctx.device(), ctx);
}
Tensor on(Context& ctx, const std::vector<float>& v) {
  return Tensor::from_vector({int64_t(v.size())}, v).to(ctx.device(), ctx);
}

void check_rows(Context& ctx, Shape2 s, double density, uint64_t seed) {
  auto p = some_plan(s.K, density, seed);
  const int64_t Kp = p.kept_k();
  std::string what = fmt::format("{} rows K={} n={} ld={} K'={}", device_name(ctx.device()), s.K, s.n, s.ld, Kp);
  auto x = random_vector(size_t(s.K * s.ld), seed + 1);
  Tensor kept = on(ctx, p.kept), pairs = on(ctx, sve::flatten_pairs(p.swaps));
  // Copy into a (K', n) buffer with a padded stride; the padding must stay NaN.
  const int64_t ldy = s.n + 3;
  Tensor xd = on(ctx, x), y = on(ctx, std::vector<float>(size_t(Kp * ldy), std::nanf("")));
  sve::copy_rows(ctx, xd.data<float>(), s.n, s.ld, kept.data<int32_t>(), Kp, y.data<float>(), ldy);
  auto got = y.to_vector(ctx);
  std::vector<float> want(size_t(Kp * ldy), std::nanf(""));
  for (int64_t j = 0; j < Kp; ++j)
    for (int64_t c = 0; c < s.n; ++c) want[j * ldy + c] = x[p.kept[j] * s.ld + c];
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_TRUE(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i]))) << what << " copy at " << i;
  // Swap in place: the leading K' rows are the kept rows in plan order, the
  // stride padding is untouched, and a second swap restores X bit for bit.
  sve::swap_rows(ctx, xd.data<float>(), s.n, s.ld, pairs.data<int32_t>(), int64_t(p.swaps.size()));
  auto xs = xd.to_vector(ctx);
  for (int64_t j = 0; j < Kp; ++j)
    for (int64_t c = 0; c < s.ld; ++c) {
      float w = c < s.n ? x[p.kept[j] * s.ld + c] : x[j * s.ld + c];
      ASSERT_EQ(xs[j * s.ld + c], w) << what << " swap row " << j << " col " << c;
    }
  sve::swap_rows(ctx, xd.data<float>(), s.n, s.ld, pairs.data<int32_t>(), int64_t(p.swaps.size()));
  EXPECT_EQ(xd.to_vector(ctx), x) << what << " swap twice";
}

void check_cols(Context& ctx, Shape2 s, double density, uint64_t seed) {
  // X (n, K) with row stride ld >= K: a linear layer's (batch, features) input.
  auto p = some_plan(s.K, density, seed);
  const int64_t Kp = p.kept_k();
  const int64_t ld = s.K + (s.ld - s.n);
  std::string what = fmt::format("{} cols K={} rows={} ld={} K'={}", device_name(ctx.device()), s.K, s.n, ld, Kp);
  auto x = random_vector(size_t(s.n * ld), seed + 2);
  Tensor kept = on(ctx, p.kept), pairs = on(ctx, sve::flatten_pairs(p.swaps));
  const int64_t ldy = Kp + 2;
  Tensor xd = on(ctx, x), y = on(ctx, std::vector<float>(size_t(s.n * ldy), std::nanf("")));
  sve::copy_cols(ctx, xd.data<float>(), s.n, ld, kept.data<int32_t>(), Kp, y.data<float>(), ldy);
  auto got = y.to_vector(ctx);
  for (int64_t r = 0; r < s.n; ++r)
    for (int64_t j = 0; j < ldy; ++j) {
      float g = got[r * ldy + j];
      if (j < Kp)
        ASSERT_EQ(g, x[r * ld + p.kept[j]]) << what << " copy (" << r << ", " << j << ")";
      else
        ASSERT_TRUE(std::isnan(g)) << what << " padding written at (" << r << ", " << j << ")";
    }
  sve::swap_cols(ctx, xd.data<float>(), s.n, ld, pairs.data<int32_t>(), int64_t(p.swaps.size()));
  auto xs = xd.to_vector(ctx);
  for (int64_t r = 0; r < s.n; ++r)
    for (int64_t j = 0; j < Kp; ++j) ASSERT_EQ(xs[r * ld + j], x[r * ld + p.kept[j]]) << what << " swap";
  sve::swap_cols(ctx, xd.data<float>(), s.n, ld, pairs.data<int32_t>(), int64_t(p.swaps.size()));
  EXPECT_EQ(xd.to_vector(ctx), x) << what << " swap twice";
}

// Ragged shapes (odd K, n and strides; K below a tile; one synapse) and
// aligned ones (the vectorised CUDA path: n and strides multiples of 4).
const Shape2 kShapes[] = {{1, 1, 1}, {7, 5, 6}, {37, 53, 59}, {130, 33, 33}, {64, 128, 128}, {363, 1000, 1004}};

void check_all(Context& ctx) {
  uint64_t seed = 1;
  for (Shape2 s : kShapes)
    for (double d : {0.3, 0.5, 0.8, 1.0}) {
      check_rows(ctx, s, d, seed++);
      check_cols(ctx, s, d, seed++);
    }
}

TEST(SveInputTransform, CpuMatchesReference) {
  auto ctx = Context::cpu();
  check_all(*ctx);
}

TEST(SveInputTransform, GpuMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  check_all(*ctx);
}

TEST(SveInputTransform, RejectsBadStride) {
  auto ctx = Context::cpu();
  std::vector<float> x(10), y(10);
  int32_t kept[1] = {0};
  EXPECT_THROW(sve::copy_rows(*ctx, x.data(), 5, 4, kept, 1, y.data(), 5), Error);
  EXPECT_THROW(sve::copy_rows(*ctx, x.data(), 5, 5, kept, 1, y.data(), 4), Error);
}

}  // namespace
}  // namespace deftnn::test
