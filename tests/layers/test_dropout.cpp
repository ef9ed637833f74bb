// Dropout: the mask is the documented hash of (seed, counter, index), the
// same on CPU and CUDA; its keep fraction; inference is the identity;
// backward reuses the forward's mask; gradient check with a pinned mask.
#include <cmath>

#include "layers/dropout.h"
#include "layers/dropout_hash.h"
#include "layers/layer_test_util.h"

namespace deftnn::test {
namespace {

nlohmann::json spec(double ratio, uint64_t seed) {
  return {{"type", "dropout"}, {"name", "drop"}, {"ratio", ratio}, {"seed", seed}};
}

void pin_mask(Layer& l) { static_cast<DropoutLayer&>(l).set_counter(0); }

std::vector<double> dropout_ref(const std::vector<double>& x, double ratio, uint64_t seed, uint64_t counter) {
  std::vector<double> y(x.size());
  uint64_t key = dropout_key(seed, counter), thr = dropout_threshold(ratio);
  for (size_t i = 0; i < x.size(); ++i) y[i] = dropout_keep(key, i, thr) ? x[i] / (1 - ratio) : 0;
  return y;
}

// Kept values are x * float(1/(1-ratio)): two roundings, 2 eps relative.
const Tolerance kTol{0, 2.4e-7, 0, 2.4e-7};

void check(Device dev) {
  uint64_t seed = 40;
  for (double ratio : {0.5, 0.1, 0.0})
    for (Shape s : {Shape{2, 3, 5, 7}, Shape{3, 17}, Shape{1, 1}}) {
      auto x = random_doubles(size_t(shape_numel(s)), seed++);
      check_layer(dev, spec(ratio, 9), s, x, true,
                  [&](const std::vector<double>& v) { return dropout_ref(v, ratio, 9, 0); }, kTol, {}, pin_mask);
      // Inference: the identity, exact.
      check_layer(dev, spec(ratio, 9), s, x, false, [](const std::vector<double>& v) { return v; }, {0, 0, 0, 0});
    }
}

TEST(Dropout, CpuMatchesReference) { check(Device::CPU); }
TEST(Dropout, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check(Device::CUDA);
}

// Each training forward draws a new mask; the same seed reproduces the sequence.
TEST(Dropout, MasksReproduceFromTheSeed) {
  auto ctx = Context::cpu();
  Shape s{4, 1000};
  auto x = std::vector<double>(4000, 1.0);
  LayerRun a(spec(0.5, 3), s, *ctx, DType::F32), b(spec(0.5, 3), s, *ctx, DType::F32),
      c(spec(0.5, 4), s, *ctx, DType::F32);
  auto a0 = a.forward(x, true), a1 = a.forward(x, true);
  EXPECT_EQ(a0, b.forward(x, true));
  EXPECT_EQ(a1, b.forward(x, true));
  EXPECT_NE(a0, a1);
  EXPECT_NE(a0, c.forward(x, true));
}

// keep fraction over n = 2^22 elements: binomial with p = 1 - ratio; a
// correct hash stays within 6 standard deviations sqrt(n p (1-p)) except with
// probability 2e-9.
TEST(Dropout, KeepFractionIsOneMinusRatio) {
  auto ctx = Context::cpu();
  int64_t n = int64_t(1) << 22;
  for (double ratio : {0.5, 0.3, 0.9}) {
    LayerRun r(spec(ratio, 1), {n}, *ctx, DType::F32);
    auto y = r.forward(std::vector<double>(size_t(n), 1.0), true);
    double kept = 0;
    for (double v : y) kept += v != 0;
    double p = 1 - ratio, sd = std::sqrt(double(n) * p * (1 - p));
    EXPECT_LE(std::fabs(kept - double(n) * p), 6 * sd) << "ratio " << ratio << ": kept " << kept << " of " << n;
  }
}

TEST(Dropout, CudaMaskEqualsCpuMask) {
  DEFTNN_REQUIRE_GPU();
  auto cpu = Context::cpu();
  auto gpu = Context::cuda();
  Shape s{3, 5, 123, 77};
  auto x = random_doubles(size_t(shape_numel(s)), 8);
  LayerRun rc(spec(0.4, 12345), s, *cpu, DType::F32), rg(spec(0.4, 12345), s, *gpu, DType::F32);
  for (int call = 0; call < 3; ++call) {
    auto yc = rc.forward(x, true), yg = rg.forward(x, true);
    ASSERT_TRUE(close_f64(yg, yc, 0, 0, "CUDA vs CPU dropout, call " + std::to_string(call)));
    auto dy = random_doubles(yc.size(), 9 + call);
    ASSERT_TRUE(close_f64(rg.backward(dy), rc.backward(dy), 0, 0, "CUDA vs CPU dropout backward"));
  }
}

TEST(Dropout, GradientCheckWithPinnedMask) {
  Shape s{2, 3, 4, 5};
  gradient_check(spec(0.5, 6), s, random_doubles(size_t(shape_numel(s)), 12), true, {}, pin_mask);
  gradient_check(spec(0.5, 6), s, random_doubles(size_t(shape_numel(s)), 12), false);
}

}  // namespace
}  // namespace deftnn::test
