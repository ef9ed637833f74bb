// Max and average pooling against fp64 references written from Caffe's
// definitions, on CPU and CUDA; Caffe's output-size rule; gradient checks.
#include <algorithm>
#include <cmath>

#include "layers/layer_test_util.h"
#include "layers/pool.h"

namespace deftnn::test {
namespace {

struct Cfg {
  int64_t k, s, p;
};

int64_t out_size(int64_t in, const Cfg& c) {
  int64_t o = int64_t(std::ceil(double(in + 2 * c.p - c.k) / double(c.s))) + 1;
  if (c.p > 0 && (o - 1) * c.s >= in + c.p) --o;
  return o;
}

std::vector<double> pool_ref(const std::vector<double>& x, const Shape& s, const Cfg& c, bool max) {
  int64_t H = s[2], W = s[3], PH = out_size(H, c), PW = out_size(W, c);
  std::vector<double> y;
  for (int64_t nc = 0; nc < s[0] * s[1]; ++nc)
    for (int64_t ph = 0; ph < PH; ++ph)
      for (int64_t pw = 0; pw < PW; ++pw) {
        int64_t h0 = ph * c.s - c.p, w0 = pw * c.s - c.p;
        // Divisor: the window clipped to the padded input (Caffe).
        double size = double(std::min(h0 + c.k, H + c.p) - h0) * double(std::min(w0 + c.k, W + c.p) - w0);
        double best = -INFINITY, sum = 0;
        for (int64_t h = std::max<int64_t>(h0, 0); h < std::min(h0 + c.k, H); ++h)
          for (int64_t w = std::max<int64_t>(w0, 0); w < std::min(w0 + c.k, W); ++w) {
            double v = x[size_t((nc * H + h) * W + w)];
            best = std::max(best, v);
            sum += v;
          }
        y.push_back(max ? best : sum / size);
      }
  return y;
}

// Distinct values (a shuffled ramp with spacing 2/n) so max pool has no ties
// and a finite-difference step of 1e-5 never changes an argmax.
std::vector<double> distinct(size_t n, uint64_t seed) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = double(float(-1 + 2 * double(i) / double(n)));  // fp32-exact
  Rng rng(seed);
  for (size_t i = n; i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
  return v;
}

nlohmann::json spec(bool max, const Cfg& c) {
  return {{"type", max ? "maxpool" : "avgpool"}, {"name", "pool"}, {"kernel", c.k}, {"stride", c.s}, {"pad", c.p}};
}

const std::vector<std::pair<Shape, Cfg>> kCases = {
    {{2, 3, 7, 9}, {3, 2, 0}},   // ragged, CEIL rounding
    {{2, 3, 7, 9}, {3, 2, 1}},   // padding
    {{1, 2, 6, 5}, {2, 2, 0}},   // even kernel over odd width: last window clipped
    {{1, 2, 13, 13}, {3, 2, 0}}, // CaffeNet pool5 geometry
    {{2, 1, 3, 4}, {2, 2, 1}},   // Caffe's pad rule removes a window
    {{1, 3, 5, 6}, {3, 1, 2}},   // stride 1, large pad
    {{3, 2, 4, 4}, {4, 4, 0}},   // one window covering everything
};

// Max: the output is one of the inputs: exact. Backward adds the dy of up to
// ceil(k/s)^2 = 4 windows sharing an argmax: <= 3 * 4 eps = 1.4e-6 (atol 2e-6).
// Avg: a sum of n <= k^2 = 16 terms of |x| <= 1 errs by at most
// (n-1) eps sum|x| <= 15 * 16 eps, then divided by the window size (>= n):
// <= 16 eps = 1.9e-6 (atol 4e-6). Backward: at most ceil(k/s)^2 = 9 terms
// |dy/size| <= 1: <= 8 * 9 eps = 8.6e-6 (atol 1e-5).
void check(Device dev, bool max) {
  uint64_t seed = 10;
  for (const auto& sc : kCases) {
    const auto& s = sc.first;  // (not a structured binding: the lambda below captures it,
    const auto& c = sc.second;  // which clang before 16 refuses)
    auto x = distinct(size_t(shape_numel(s)), seed++);
    Tolerance tol = max ? Tolerance{0, 0, 2e-6, 0} : Tolerance{4e-6, 0, 1e-5, 0};
    check_layer(dev, spec(max, c), s, x, true, [&](const std::vector<double>& v) { return pool_ref(v, s, c, max); },
                tol);
  }
}

TEST(Pool, OutputSizeFollowsCaffe) {
  EXPECT_EQ(pool_output_size(55, 3, 2, 0), 27);  // CaffeNet pool1
  EXPECT_EQ(pool_output_size(13, 3, 2, 0), 6);   // pool5
  EXPECT_EQ(pool_output_size(6, 2, 2, 0), 3);
  EXPECT_EQ(pool_output_size(7, 2, 2, 0), 4);    // CEIL: a clipped last window
  EXPECT_EQ(pool_output_size(32, 3, 2, 0), 16);  // CifarNet
  EXPECT_EQ(pool_output_size(3, 2, 2, 1), 2);    // ceil gives 3; the pad rule takes one away
  for (const auto& [s, c] : kCases) EXPECT_EQ(pool_output_size(s[2], c.k, c.s, c.p), out_size(s[2], c));
}

TEST(Pool, RejectsBadGeometry) {
  auto expect_throw = [](const nlohmann::json& sp, const Shape& in, const char* needle) {
    try {
      make_layer(sp)->infer(in);
      FAIL() << sp.dump() << " on " << shape_str(in) << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'pool'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_throw(spec(true, {5, 1, 1}), {1, 1, 2, 2}, "larger than the padded input");
  expect_throw(spec(false, {1, 3, 0}), {1, 1, 5, 5}, "starts outside");
  expect_throw(spec(true, {3, 2, 0}), {1, 2, 9}, "(N, C, H, W)");
}

TEST(Pool, MaxCpuMatchesReference) { check(Device::CPU, true); }
TEST(Pool, AvgCpuMatchesReference) { check(Device::CPU, false); }
TEST(Pool, MaxCudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check(Device::CUDA, true);
}
TEST(Pool, AvgCudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check(Device::CUDA, false);
}

TEST(Pool, GradientCheck) {
  for (bool max : {true, false})
    for (const auto& [s, c] : kCases) gradient_check(spec(max, c), s, distinct(size_t(shape_numel(s)), 77), true);
}

// Inference skips the argmax mask; a backward after it must still be right.
void check_backward_after_inference(Device dev) {
  auto ctx = Context::make(dev);
  Shape s{2, 3, 7, 9};
  auto x = distinct(size_t(shape_numel(s)), 5);
  LayerRun train(spec(true, {3, 2, 1}), s, *ctx, DType::F32), infer(spec(true, {3, 2, 1}), s, *ctx, DType::F32);
  train.forward(x, true);
  infer.forward(x, false);
  auto dy = random_doubles(size_t(shape_numel(train.out)), 6);
  EXPECT_TRUE(close_f64(infer.backward(dy), train.backward(dy), 0, 0, "backward after an inference forward"));
}
TEST(Pool, MaxBackwardAfterInferenceCpu) { check_backward_after_inference(Device::CPU); }
TEST(Pool, MaxBackwardAfterInferenceCuda) {
  DEFTNN_REQUIRE_GPU();
  check_backward_after_inference(Device::CUDA);
}

}  // namespace
}  // namespace deftnn::test
