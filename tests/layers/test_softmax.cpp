// softmax_cross_entropy and softmax (loss.h) against fp64 references on CPU
// and CUDA; the softmax layer; gradient checks in double.
#include <cmath>

#include "layers/layer_test_util.h"
#include "layers/loss.h"

namespace deftnn::test {
namespace {

struct XentRef {
  double loss;
  std::vector<double> grad;
  int64_t correct;
};

XentRef xent_ref(const std::vector<double>& x, const std::vector<int32_t>& labels, int64_t C) {
  int64_t N = int64_t(labels.size());
  XentRef r{0, std::vector<double>(x.size()), 0};
  for (int64_t i = 0; i < N; ++i) {
    const double* row = x.data() + i * C;
    int64_t arg = 0;
    for (int64_t j = 1; j < C; ++j)
      if (row[j] > row[arg]) arg = j;  // first maximum
    double sum = 0;
    for (int64_t j = 0; j < C; ++j) sum += std::exp(row[j] - row[arg]);
    r.loss += (std::log(sum) - (row[labels[size_t(i)]] - row[arg])) / double(N);
    r.correct += arg == labels[size_t(i)];
    for (int64_t j = 0; j < C; ++j)
      r.grad[size_t(i * C + j)] = (std::exp(row[j] - row[arg]) / sum - (j == labels[size_t(i)])) / double(N);
  }
  return r;
}

std::vector<double> softmax_ref(const std::vector<double>& x, int64_t C) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); i += size_t(C)) {
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < C; ++j) mx = std::max(mx, x[i + size_t(j)]);
    for (int64_t j = 0; j < C; ++j) sum += std::exp(x[i + size_t(j)] - mx);
    for (int64_t j = 0; j < C; ++j) y[i + size_t(j)] = std::exp(x[i + size_t(j)] - mx) / sum;
  }
  return y;
}

Tensor label_tensor(const std::vector<int32_t>& v, Context& ctx) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::I32);
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return ctx.is_cuda() ? t.to(Device::CUDA, ctx) : t;
}

std::vector<int32_t> random_labels(int64_t n, int64_t c, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& l : v) l = int32_t(rng.below(uint64_t(c)));
  return v;
}

// Logits in [-5, 5] (+1000 in the shifted case: the max subtraction must keep
// it finite and equal). exp and the sum of C terms in fp32: relative error
// <= (C + 4) eps on probabilities; the loss log(sum) - (x_l - max) errs by
// about (C + 4) eps + eps * |x|: rtol 1e-5 + atol 2e-5 (C <= 1000: 1.2e-4
// would be the worst case for the sum; random signs give sqrt(C)). The
// gradient (p - onehot)/N: atol 1e-5 / N scale, so atol 1e-6 for N >= 5.
void check_xent(Device dev) {
  auto ctx = Context::make(dev);
  uint64_t seed = 80;
  for (auto [N, C] : {std::pair<int64_t, int64_t>{5, 10}, {37, 1000}, {3, 1}, {128, 10}, {7, 33}})
    for (double shift : {0.0, 1000.0}) {
      auto x = random_doubles(size_t(N * C), seed++, -5, 5);
      // Make some rows tie for the maximum: the first maximum counts.
      if (C > 3) x[2] = x[1] = 10;
      for (auto& v : x) v = double(float(v + shift));
      auto labels = random_labels(N, C, seed++);
      if (C > 3) labels[0] = 1;
      auto ref = xent_ref(x, labels, C);
      Tensor logits = make_tensor({N, C}, x, DType::F32, *ctx);
      Tensor grad = poisoned({N, C}, DType::F32, *ctx);
      int64_t correct = 3;  // adds to what is there
      float loss = softmax_cross_entropy(*ctx, logits, label_tensor(labels, *ctx), &grad, &correct);
      std::string what = fmt::format("{} N={} C={} shift={}", device_name(dev), N, C, shift);
      EXPECT_NEAR(loss, ref.loss, 2e-5 + 1e-5 * std::fabs(ref.loss)) << what;
      EXPECT_EQ(correct, 3 + ref.correct) << what;
      EXPECT_TRUE(close(values(grad, *ctx), ref.grad, 1e-6, 1e-5, what + " dlogits"));
      // Without a gradient or a count.
      EXPECT_NEAR(softmax_cross_entropy(*ctx, logits, label_tensor(labels, *ctx), nullptr), loss, 1e-6 * std::fabs(loss))
          << what;
      Tensor probs = poisoned({N, C}, DType::F32, *ctx);
      softmax(*ctx, logits, probs);
      EXPECT_TRUE(close(values(probs, *ctx), softmax_ref(x, C), 1e-6, 1e-5, what + " softmax"));
    }
}

TEST(SoftmaxCrossEntropy, CpuMatchesReference) { check_xent(Device::CPU); }
TEST(SoftmaxCrossEntropy, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check_xent(Device::CUDA);
}

void check_bad_labels(Device dev) {
  auto ctx = Context::make(dev);
  Tensor logits = make_tensor({2, 3}, random_doubles(6, 1), DType::F32, *ctx);
  for (int32_t bad : {-1, 3}) {
    try {
      softmax_cross_entropy(*ctx, logits, label_tensor({0, bad}, *ctx), nullptr);
      FAIL() << "label " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("outside [0, 3)"), std::string::npos) << e.what();
    }
  }
}
TEST(SoftmaxCrossEntropy, RejectsBadLabelsCpu) { check_bad_labels(Device::CPU); }
TEST(SoftmaxCrossEntropy, RejectsBadLabelsCuda) {
  DEFTNN_REQUIRE_GPU();
  check_bad_labels(Device::CUDA);
}

// The reference loss is the function the gradient must belong to: central
// differences of it in double against dlogits from the CPU F64 path.
// h = 1e-5: truncation h^2 |f'''| / 6 < 1e-10, rounding eps64 / h ~ 2e-11.
TEST(SoftmaxCrossEntropy, GradientCheck) {
  auto ctx = Context::cpu();
  int64_t N = 4, C = 7;
  auto x = random_doubles(size_t(N * C), 90, -3, 3);
  auto labels = random_labels(N, C, 91);
  Tensor grad = poisoned({N, C}, DType::F64, *ctx);
  softmax_cross_entropy(*ctx, make_tensor({N, C}, x, DType::F64, *ctx), label_tensor(labels, *ctx), &grad);
  std::vector<double> num(x.size());
  double h = 1e-5;
  for (size_t i = 0; i < x.size(); ++i) {
    auto xp = x, xm = x;
    xp[i] += h, xm[i] -= h;
    num[i] = (xent_ref(xp, labels, C).loss - xent_ref(xm, labels, C).loss) / (2 * h);
  }
  EXPECT_TRUE(close_f64(values(grad, *ctx), num, 1e-8, 1e-6, "dlogits vs central differences"));
}

// The layer: probabilities forward, the softmax Jacobian backward.
// Forward as softmax() above; backward y (dy - sum dy y) sums C terms: atol 1e-6.
const Tolerance kTol{1e-6, 1e-5, 1e-6, 1e-5};
const nlohmann::json kSpec = {{"type", "softmax"}, {"name", "prob"}};

void check_layer_on(Device dev) {
  for (Shape s : {Shape{5, 10}, Shape{3, 17, 1, 1}, Shape{2, 1000}}) {
    int64_t C = s[1];
    auto x = random_doubles(size_t(shape_numel(s)), 95, -4, 4);
    check_layer(dev, kSpec, s, x, false, [&](const std::vector<double>& v) { return softmax_ref(v, C); }, kTol);
  }
}
TEST(SoftmaxLayer, CpuMatchesReference) { check_layer_on(Device::CPU); }
TEST(SoftmaxLayer, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check_layer_on(Device::CUDA);
}
TEST(SoftmaxLayer, GradientCheck) { gradient_check(kSpec, {3, 6}, random_doubles(18, 96, -2, 2), false); }
TEST(SoftmaxLayer, RejectsSpatialInput) {
  try {
    make_layer(kSpec)->infer({2, 10, 2, 1});
    FAIL() << "spatial input accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'prob'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace deftnn::test
