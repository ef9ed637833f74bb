// LRN (Caffe's ACROSS_CHANNELS) against an fp64 reference on CPU and CUDA,
// gradient checks in double.
#include <cmath>

#include "layers/layer_test_util.h"

namespace deftnn::test {
namespace {

struct Cfg {
  int64_t size;
  double alpha, beta, k;
};

std::vector<double> lrn_ref(const std::vector<double>& x, const Shape& s, const Cfg& c) {
  int64_t C = s[1], HW = s[2] * s[3];
  int64_t pre = (c.size - 1) / 2, post = c.size - 1 - pre;  // Caffe's window [c - pre, c + post]
  std::vector<double> y(x.size());
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t ch = 0; ch < C; ++ch)
      for (int64_t p = 0; p < HW; ++p) {
        double sum = 0;
        for (int64_t j = ch - pre; j <= ch + post; ++j)
          if (j >= 0 && j < C) sum += x[size_t((n * C + j) * HW + p)] * x[size_t((n * C + j) * HW + p)];
        size_t i = size_t((n * C + ch) * HW + p);
        y[i] = x[i] * std::pow(c.k + c.alpha / double(c.size) * sum, -c.beta);
      }
  return y;
}

nlohmann::json spec(const Cfg& c) {
  return {{"type", "lrn"}, {"name", "norm"}, {"local_size", c.size}, {"alpha", c.alpha}, {"beta", c.beta},
          {"k", c.k}};
}

const std::vector<std::pair<Shape, Cfg>> kCases = {
    {{2, 7, 5, 3}, {5, 1.0, 0.75, 1.0}},      // C > n, strong normalisation
    {{1, 3, 4, 4}, {5, 2.0, 0.75, 2.0}},      // C < n: every window clipped
    {{2, 6, 3, 5}, {4, 1.5, 0.6, 1.0}},       // even n: window [c - 1, c + 2]
    {{1, 4, 2, 3}, {1, 0.5, 1.0, 1.0}},       // n = 1
    {{2, 96, 5, 7}, {5, 1e-4, 0.75, 1.0}},    // CaffeNet's norm1 parameters, 96 channels
    {{1, 40, 3, 3}, {5, 3.0, 0.75, 1.0}},     // long sliding window, large alpha
};

// Inputs in [-2, 2]. The scale is k + alpha/n * sum of <= n squares: relative
// error <= (n + 2) eps; the CUDA sliding sum adds and removes each square of
// the column once, an absolute error of <= 2 C eps max x^2 in the sum, i.e.
// alpha/n * 2 * 96 * 4 eps <= 1.2e-5 relative to k = 1 for alpha <= 3, n >= 4
// (C * alpha / n is at most 40 * 3 / 5 = 24 here: 24 * 8 eps = 2.3e-5).
// y = x * scale^-beta then errs by beta times that plus powf's 2 ulp (the
// CUDA forward's rsqrt(s) * sqrt(rsqrt(s)) for beta = 0.75: 4 ulp):
// rtol 4e-5, atol 1e-6. Backward has the same terms plus a window sum of
// ratios: atol 5e-5, rtol 5e-5.
const Tolerance kTol{1e-6, 4e-5, 5e-5, 5e-5};

void check(Device dev) {
  uint64_t seed = 20;
  for (const auto& sc : kCases) {
    const auto& s = sc.first;  // (not a structured binding: a lambda below captures it,
    const auto& c = sc.second;  // which clang before 16 refuses)
    auto x = random_doubles(size_t(shape_numel(s)), seed++, -2, 2);
    check_layer(dev, spec(c), s, x, true, [&](const std::vector<double>& v) { return lrn_ref(v, s, c); }, kTol);
  }
}

TEST(Lrn, CpuMatchesReference) { check(Device::CPU); }
TEST(Lrn, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check(Device::CUDA);
}

TEST(Lrn, GradientCheck) {
  for (const auto& sc : kCases) {
    const auto& s = sc.first;  // (not a structured binding: a lambda below captures it,
    const auto& c = sc.second;  // which clang before 16 refuses)
    if (s[1] > 10) continue;  // the small cases cover every window shape
    gradient_check(spec(c), s, random_doubles(size_t(shape_numel(s)), 31, -2, 2), true);
  }
}

TEST(Lrn, RejectsNonImageInput) {
  try {
    make_layer(spec({5, 1, 0.75, 1}))->infer({4, 10});
    FAIL() << "2-D input accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'norm'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace deftnn::test
