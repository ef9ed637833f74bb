// Batch normalisation against fp64 references (training: batch statistics
// and the running-average update; inference: running statistics), on CPU and
// CUDA, 4-D and 2-D inputs; gradient checks in double in both modes.
#include <cmath>

#include "layers/layer_test_util.h"

namespace deftnn::test {
namespace {

const double kEps = 1e-5, kMomentum = 0.9;
const nlohmann::json kSpec = {{"type", "batchnorm"}, {"name", "bn"}, {"eps", kEps}, {"momentum", kMomentum}};

struct Stats {
  std::vector<double> mean, var;  // biased variance
};

int64_t inner(const Shape& s) { return s.size() == 4 ? s[2] * s[3] : 1; }

Stats batch_stats(const std::vector<double>& x, const Shape& s) {
  int64_t C = s[1], HW = inner(s), M = s[0] * HW;
  Stats st{std::vector<double>(size_t(C)), std::vector<double>(size_t(C))};
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < s[0]; ++n)
      for (int64_t p = 0; p < HW; ++p) sum += x[size_t((n * C + c) * HW + p)];
    double mu = sum / double(M);
    for (int64_t n = 0; n < s[0]; ++n)
      for (int64_t p = 0; p < HW; ++p) sq += std::pow(x[size_t((n * C + c) * HW + p)] - mu, 2);
    st.mean[size_t(c)] = mu, st.var[size_t(c)] = sq / double(M);
  }
  return st;
}

std::vector<double> normalise(const std::vector<double>& x, const Shape& s, const Stats& st,
                              const std::vector<double>& gamma, const std::vector<double>& beta) {
  int64_t C = s[1], HW = inner(s);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    size_t c = size_t(int64_t(i) / HW % C);
    y[i] = gamma[c] * (x[i] - st.mean[c]) / std::sqrt(st.var[c] + kEps) + beta[c];
  }
  return y;
}

// Random gamma, beta and running statistics (positive variance), fp32-exact.
struct Params {
  std::vector<double> gamma, beta, rmean, rvar;
};
Params random_params(int64_t C, uint64_t seed) {
  auto to_f = [](std::vector<double> v) {
    for (auto& x : v) x = double(float(x));
    return v;
  };
  return {to_f(random_doubles(size_t(C), seed, 0.5, 1.5)), to_f(random_doubles(size_t(C), seed + 1)),
          to_f(random_doubles(size_t(C), seed + 2, -0.5, 0.5)), to_f(random_doubles(size_t(C), seed + 3, 0.2, 2))};
}
std::function<void(Layer&)> set_params(const Params& p) {
  return [p](Layer& l) {
    auto ctx = Context::cpu();
    auto ps = l.params();  // weight, bias, running_mean, running_var
    const std::vector<double>* v[] = {&p.gamma, &p.beta, &p.rmean, &p.rvar};
    for (size_t i = 0; i < 4; ++i) ps[i]->value = make_tensor(ps[i]->value.shape(), *v[i], DType::F32, *ctx);
  };
}

const std::vector<Shape> kShapes = {{3, 5, 4, 3}, {2, 4, 1, 7}, {6, 7}, {1, 3, 2, 2}};

// xhat = (x - mean) * invstd in fp32: (x - mean) rounds by eps |x - mean|,
// invstd by eps, the product and gamma * xhat + beta by 2 eps more: about
// 5 eps (|gamma xhat| + |beta|) <= 5 eps * 6 = 3.6e-6 for |xhat| <= 3.5.
// Backward: dx = gamma invstd (dy - (dbeta + xhat dgamma) / M), sums in fp64,
// the same 5 eps on terms of order invstd * 3: atol 2e-5.
const Tolerance kTol{1e-5, 1e-5, 2e-5, 1e-5};

void check(Device dev) {
  uint64_t seed = 50;
  for (const Shape& s : kShapes) {
    auto x = random_doubles(size_t(shape_numel(s)), seed++, -2, 3);
    Params p = random_params(s[1], seed++);
    check_layer(dev, kSpec, s, x, true,
                [&](const std::vector<double>& v) { return normalise(v, s, batch_stats(v, s), p.gamma, p.beta); },
                kTol, set_params(p));
    check_layer(dev, kSpec, s, x, false,
                [&](const std::vector<double>& v) { return normalise(v, s, {p.rmean, p.rvar}, p.gamma, p.beta); },
                kTol, set_params(p));
  }
}

TEST(BatchNorm, CpuMatchesReference) { check(Device::CPU); }
TEST(BatchNorm, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check(Device::CUDA);
}

// running = m * running + (1 - m) * batch, with the unbiased batch variance.
void check_running(Device dev) {
  auto ctx = Context::make(dev);
  Shape s{3, 5, 4, 3};
  auto x = random_doubles(size_t(shape_numel(s)), 60, -2, 3);
  Params p = random_params(s[1], 61);
  LayerRun r(kSpec, s, *ctx, DType::F32, set_params(p));
  r.forward(x, true);
  Stats st = batch_stats(x, s);
  double M = double(s[0] * s[2] * s[3]);
  std::vector<double> want_mean, want_var;
  for (size_t c = 0; c < size_t(s[1]); ++c) {
    want_mean.push_back(kMomentum * p.rmean[c] + (1 - kMomentum) * st.mean[c]);
    want_var.push_back(kMomentum * p.rvar[c] + (1 - kMomentum) * st.var[c] * M / (M - 1));
  }
  auto ps = r.layer->params();
  // One fp32 rounding of each stored value (the statistics are fp64 inside).
  EXPECT_TRUE(close(values(ps[2]->value, *ctx), want_mean, 1e-7, 2.4e-7, "running_mean"));
  EXPECT_TRUE(close(values(ps[3]->value, *ctx), want_var, 1e-7, 2.4e-7, "running_var"));
}
TEST(BatchNorm, RunningStatisticsCpu) { check_running(Device::CPU); }
TEST(BatchNorm, RunningStatisticsCuda) {
  DEFTNN_REQUIRE_GPU();
  check_running(Device::CUDA);
}

TEST(BatchNorm, Params) {
  auto l = make_layer(kSpec);
  l->infer({2, 4, 3, 3});
  auto ps = l->params();
  ASSERT_EQ(ps.size(), 4u);
  EXPECT_EQ(ps[0]->name, "weight");
  EXPECT_EQ(ps[1]->name, "bias");
  EXPECT_EQ(ps[2]->name, "running_mean");
  EXPECT_EQ(ps[3]->name, "running_var");
  EXPECT_TRUE(ps[0]->trainable && ps[1]->trainable);
  EXPECT_FALSE(ps[2]->trainable || ps[3]->trainable);
  EXPECT_FALSE(ps[2]->grad.defined() || ps[3]->grad.defined());
  auto ctx = Context::cpu();
  EXPECT_EQ(ps[0]->value.to_vector(*ctx), std::vector<float>(4, 1.f));
  EXPECT_EQ(ps[3]->value.to_vector(*ctx), std::vector<float>(4, 1.f));
  EXPECT_THROW(l->infer({2, 5, 3, 3}), Error);  // sized for 4 channels
  EXPECT_THROW(l->infer({2, 4, 3}), Error);
}

TEST(BatchNorm, GradientCheck) {
  for (const Shape& s : {Shape{3, 2, 2, 3}, Shape{5, 3}}) {
    Params p = random_params(s[1], 70);
    auto x = random_doubles(size_t(shape_numel(s)), 71, -2, 3);
    gradient_check(kSpec, s, x, true, set_params(p));
    gradient_check(kSpec, s, x, false, set_params(p));
  }
}

}  // namespace
}  // namespace deftnn::test
