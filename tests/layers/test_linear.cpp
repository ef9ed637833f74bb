// Linear against the plain-loop fp64 reference: forward and gradients on
// random ragged shapes (CPU and CUDA), (N, C, H, W) inputs, finite
// differences, SVE (identity, subsets, fused/copy/swap), bad input, config.
//
// Tolerances: y is a sum of F (+ bias) fp32 products, dW and db of N, dx of
// out; each is within 4 * eps32 * sqrt(n) * sum|terms| (fp32_tolerance).
#include <algorithm>
#include <numeric>

#include "layers/linear.h"
#include "synapse/sve_apply.h"
#include "reference/conv_ref.h"
#include "sve/plan.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

struct LinShape {
  int64_t N, F, out;
};

std::unique_ptr<Linear> make(Context& ctx, const Shape& in, int64_t out, const std::vector<float>& w,
                             const std::vector<float>& b, const SveState* sve = nullptr) {
  auto layer = std::make_unique<Linear>(nlohmann::json{{"type", "linear"}, {"name", "fcT"}, {"out", out}});
  layer->infer(in);
  if (sve)
    layer->set_sve(*sve, Tensor::from_vector({out, int64_t(sve->kept.size())}, w));
  else
    layer->params()[0]->value = Tensor::from_vector(layer->params()[0]->value.shape(), w);
  layer->params()[1]->value = Tensor::from_vector({out}, b);
  for (Param* p : layer->params()) {
    p->value = p->value.to(ctx.device(), ctx);
    p->grad = p->grad.to(ctx.device(), ctx);
  }
  layer->on_device_change(ctx);
  return layer;
}

struct Outputs {
  std::vector<float> y, dx, dw, db;
};

Outputs run(Context& ctx, Linear& layer, const Shape& in, int64_t out, const std::vector<float>& x,
            const std::vector<float>& dy, bool backward = true) {
  Tensor xt = Tensor::from_vector(in, x).to(ctx.device(), ctx);
  Tensor yt = Tensor::empty({in[0], out}, DType::F32, ctx.device());
  poison(yt, ctx);
  layer.forward(ctx, xt, yt, true);
  Outputs o;
  o.y = yt.to_vector(ctx);
  if (!backward) return o;
  Tensor dyt = Tensor::from_vector({in[0], out}, dy).to(ctx.device(), ctx);
  Tensor dxt = Tensor::empty(in, DType::F32, ctx.device());
  poison(dxt, ctx);
  for (Param* p : layer.params()) poison(p->grad, ctx);
  layer.backward(ctx, xt, yt, dyt, &dxt);
  o.dx = dxt.to_vector(ctx);
  o.dw = layer.params()[0]->grad.to_vector(ctx);
  o.db = layer.params()[1]->grad.to_vector(ctx);
  return o;
}

void check(const Outputs& got, const LinShape& s, const std::vector<float>& x, const std::vector<double>& wfull,
           const std::vector<float>& b, const std::vector<float>& dy, const std::vector<int32_t>& kept,
           const std::string& what) {
  const ConvRef ref = linear_reference(s.N, s.F, s.out, to_double(x), wfull, to_double(b), to_double(dy));
  const ConvRef mag = linear_reference(s.N, s.F, s.out, to_double(x), wfull, to_double(b), to_double(dy), true);
  const int64_t Kn = kept.empty() ? s.F : int64_t(kept.size());
  EXPECT_TRUE(close_within(got.y, ref.y, fp32_tolerance(mag.y, Kn + 1), what + " y"));
  EXPECT_TRUE(close_within(got.dx, ref.dx, fp32_tolerance(mag.dx, s.out), what + " dx"));
  if (kept.empty())
    EXPECT_TRUE(close_within(got.dw, ref.dw, fp32_tolerance(mag.dw, s.N), what + " dW"));
  else
    EXPECT_TRUE(close_within(got.dw, take_columns(ref.dw, s.out, s.F, kept),
                             fp32_tolerance(take_columns(mag.dw, s.out, s.F, kept), s.N), what + " dW"));
  EXPECT_TRUE(close_within(got.db, ref.db, fp32_tolerance(mag.db, s.N), what + " db"));
}

LinShape random_shape(Rng& rng) {
  return {1 + int64_t(rng.below(5)), 1 + int64_t(rng.below(70)), 1 + int64_t(rng.below(40))};
}

std::string describe(const LinShape& s) { return fmt::format("N={} F={} out={}", s.N, s.F, s.out); }

void dense_cases(Context& ctx, int n_cases, uint64_t seed) {
  Rng rng(seed);
  for (int c = 0; c < n_cases; ++c) {
    const LinShape s = random_shape(rng);
    const uint64_t ds = seed * 1000 + uint64_t(c) * 10;
    const auto x = random_vector(size_t(s.N * s.F), ds), w = random_vector(size_t(s.out * s.F), ds + 1),
               b = random_vector(size_t(s.out), ds + 2), dy = random_vector(size_t(s.N * s.out), ds + 3);
    auto layer = make(ctx, {s.N, s.F}, s.out, w, b);
    check(run(ctx, *layer, {s.N, s.F}, s.out, x, dy), s, x, to_double(w), b, dy, {},
          fmt::format("{} {}", device_name(ctx.device()), describe(s)));
  }
}

TEST(Linear, CpuMatchesReference) {
  auto ctx = Context::cpu();
  dense_cases(*ctx, 12, 71);
}

TEST(Linear, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  dense_cases(*ctx, 40, 72);
}

TEST(Linear, SpatialInputIsFlattened) {
  for (bool gpu : {false, true}) {
    if (gpu && !cuda_available()) continue;
    auto ctx = Context::make(gpu ? Device::CUDA : Device::CPU);
    const Shape in{3, 2, 3, 5};
    const LinShape s{3, 30, 7};
    const auto x = random_vector(90, 1), w = random_vector(210, 2), b = random_vector(7, 3), dy = random_vector(21, 4);
    auto layer = make(*ctx, in, s.out, w, b);
    check(run(*ctx, *layer, in, s.out, x, dy), s, x, to_double(w), b, dy, {}, "4-d input");
  }
}

TEST(Linear, FiniteDifferenceGradients) {
  auto ctx = Context::cpu();
  Rng rng(73);
  const double h = 0.5;  // linear in x, W, b: no truncation error, only fp32 rounding
  for (int c = 0; c < 4; ++c) {
    const LinShape s = random_shape(rng);
    auto x = random_vector(size_t(s.N * s.F), 7300 + uint64_t(c)), w = random_vector(size_t(s.out * s.F), 7400 + uint64_t(c)),
         b = random_vector(size_t(s.out), 7500 + uint64_t(c));
    const auto r = random_vector(size_t(s.N * s.out), 7600 + uint64_t(c));
    auto loss = [&] {
      auto layer = make(*ctx, {s.N, s.F}, s.out, w, b);
      const auto y = run(*ctx, *layer, {s.N, s.F}, s.out, x, {}, false).y;
      double L = 0;
      for (size_t i = 0; i < y.size(); ++i) L += double(y[i]) * r[i];
      return L;
    };
    auto layer = make(*ctx, {s.N, s.F}, s.out, w, b);
    const Outputs g = run(*ctx, *layer, {s.N, s.F}, s.out, x, r);
    const ConvRef mag = linear_reference(s.N, s.F, s.out, to_double(x), to_double(w), to_double(b), {}, true);
    const auto tol_y = fp32_tolerance(mag.y, s.F + 1);
    double tol = 0;
    for (size_t i = 0; i < tol_y.size(); ++i) tol += std::fabs(r[i]) * tol_y[i];
    tol = 2 * tol / (2 * h) + 1e-6;
    auto probe = [&](std::vector<float>& v, const std::vector<float>& grad, const char* name) {
      for (int t = 0; t < 6; ++t) {
        const size_t i = size_t(rng.below(v.size()));
        const float keep = v[i];
        v[i] = keep + float(h);
        const double lp = loss();
        v[i] = keep - float(h);
        const double lm = loss();
        v[i] = keep;
        EXPECT_NEAR((lp - lm) / (2 * h), grad[i], tol) << name << "[" << i << "] " << describe(s);
      }
    };
    probe(x, g.dx, "dx");
    probe(w, g.dw, "dW");
    probe(b, g.db, "db");
  }
}

SveState sve_state(int64_t K, std::vector<int32_t> kept, SveTransform t) {
  SveState st;
  st.original_k = K;
  st.transform = t;
  if (t == SveTransform::Swap) {
    const sve::SvePlan plan = sve::make_plan(K, kept, /*scale=*/false);  // the paper's reorder
    st.kept = plan.kept;
    st.swaps = plan.swaps;
  } else {
    st.kept = std::move(kept);
  }
  return st;
}

void sve_cases(Context& ctx, uint64_t seed, int n_cases) {
  Rng rng(seed);
  for (int c = 0; c < n_cases; ++c) {
    const LinShape s = random_shape(rng);
    const uint64_t ds = seed * 1000 + uint64_t(c) * 10;
    const auto x = random_vector(size_t(s.N * s.F), ds), b = random_vector(size_t(s.out), ds + 2),
               dy = random_vector(size_t(s.N * s.out), ds + 3);
    // Identity keep: bit-identical to the dense layer.
    {
      const auto w = random_vector(size_t(s.out * s.F), ds + 1);
      auto dense = make(ctx, {s.N, s.F}, s.out, w, b);
      const Outputs want = run(ctx, *dense, {s.N, s.F}, s.out, x, dy);
      std::vector<int32_t> all(static_cast<size_t>(s.F));
      std::iota(all.begin(), all.end(), 0);
      for (SveTransform t : {SveTransform::Fused, SveTransform::Copy, SveTransform::Swap}) {
        const SveState st = sve_state(s.F, all, t);
        auto layer = make(ctx, {s.N, s.F}, s.out, w, b, &st);
        const Outputs got = run(ctx, *layer, {s.N, s.F}, s.out, x, dy);
        const std::string what = fmt::format("identity {} {}", sve_transform_name(t), describe(s));
        EXPECT_TRUE(all_close(got.y, want.y, 0, 0, what + " y"));
        EXPECT_TRUE(all_close(got.dx, want.dx, 0, 0, what + " dx"));
        EXPECT_TRUE(all_close(got.dw, want.dw, 0, 0, what + " dW"));
      }
    }
    // A random subset in random order.
    std::vector<int32_t> subset(static_cast<size_t>(s.F));
    std::iota(subset.begin(), subset.end(), 0);
    for (size_t i = subset.size(); i > 1; --i) std::swap(subset[i - 1], subset[size_t(rng.below(i))]);
    subset.resize(size_t(1 + rng.below(uint64_t(s.F))));
    for (SveTransform t : {SveTransform::Fused, SveTransform::Copy, SveTransform::Swap}) {
      const SveState st = sve_state(s.F, subset, t);
      const auto wt = random_vector(size_t(s.out) * st.kept.size(), ds + 5);
      auto layer = make(ctx, {s.N, s.F}, s.out, wt, b, &st);
      const Outputs got = run(ctx, *layer, {s.N, s.F}, s.out, x, dy);
      const std::string what = fmt::format("{} SVE {} K'={} {}", device_name(ctx.device()), sve_transform_name(t),
                                           st.kept.size(), describe(s));
      check(got, s, x, expand_truncated(wt, s.out, s.F, st.kept), b, dy, st.kept, what);
      if (t == SveTransform::Swap)
        for (SveTransform u : {SveTransform::Fused, SveTransform::Copy}) {
          SveState su = st;
          su.transform = u;
          su.swaps.clear();
          auto other = make(ctx, {s.N, s.F}, s.out, wt, b, &su);
          const Outputs o2 = run(ctx, *other, {s.N, s.F}, s.out, x, dy);
          // Same operands, same GEMM; only ldb differs (K vs K'), which cuBLAS
          // and OpenBLAS may tile differently, so compare within tolerance.
          const ConvRef mag = linear_reference(s.N, s.F, s.out, to_double(x),
                                               expand_truncated(wt, s.out, s.F, st.kept), to_double(b), {}, true);
          EXPECT_TRUE(close_within(o2.y, to_double(got.y), fp32_tolerance(mag.y, 2 * int64_t(st.kept.size()) + 2),
                                   what + " vs " + sve_transform_name(u)));
        }
    }
  }
}

TEST(LinearSve, IdentitySubsetsAndTransformsCpu) {
  auto ctx = Context::cpu();
  sve_cases(*ctx, 81, 8);
}

TEST(LinearSve, IdentitySubsetsAndTransformsCuda) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  sve_cases(*ctx, 82, 30);
}

TEST(LinearSve, ConfigRoundTrips) {
  Linear layer({{"type", "linear"}, {"name", "fc"}, {"out", 3}, {"bias", true}});
  layer.infer({2, 10});
  const SveState st = sve_state(10, {9, 2, 4}, SveTransform::Copy);
  layer.set_sve(st, Tensor::from_vector({3, 3}, random_vector(9, 1)));
  const nlohmann::json j = layer.config();
  auto again = make_linear(j);
  EXPECT_EQ(again->config(), j);
  EXPECT_EQ(again->infer({2, 10}), Shape({2, 3}));
  EXPECT_EQ(again->params()[0]->value.shape(), Shape({3, 3}));
  EXPECT_EQ(again->gemm_shape({2, 10}).K, 3);
}

TEST(Linear, BadInputNamesTheLayer) {
  Linear layer({{"type", "linear"}, {"name", "fcT"}, {"out", 3}});
  layer.infer({2, 10});
  try {
    layer.infer({2, 11});
    ADD_FAILURE() << "no error for a wrong feature count";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fcT'"), std::string::npos) << e.what();
  }
  try {
    layer.set_sve(sve_state(10, {1, 2}, SveTransform::Fused), Tensor::empty({3, 3}));
    ADD_FAILURE() << "no error for a truncated weight of the wrong width";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fcT'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Linear({{"type", "linear"}, {"name", "x"}}), Error);
}

TEST(Linear, ConfigDefaultsAndShapes) {
  auto layer = make_linear({{"type", "linear"}, {"name", "fc"}, {"out", 5}, {"bias", false}});
  EXPECT_EQ(layer->infer({4, 2, 3, 3}), Shape({4, 5}));
  EXPECT_EQ(layer->params().size(), 1u);
  EXPECT_EQ(make_linear(layer->config())->config(), layer->config());
  EXPECT_EQ(layer->flops({4, 2, 3, 3}), 2 * 5 * 4 * 18);
  // A bias-less layer runs.
  auto ctx = Context::cpu();
  Rng rng(3);
  layer->init_params(rng);
  Tensor x = random_tensor({4, 2, 3, 3}, 9), y = Tensor::empty({4, 5});
  layer->forward(*ctx, x, y, false);
  const auto w = layer->params()[0]->value.to_vector(*ctx);
  const auto ref = linear_reference(4, 18, 5, to_double(x.to_vector(*ctx)), to_double(w), {}, {});
  EXPECT_TRUE(all_close(y.to_vector(*ctx), ref.y, 1e-5, 1e-5, "bias-less"));
}

}  // namespace
}  // namespace deftnn::test
