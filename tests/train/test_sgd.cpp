// SGD against a hand computation of Caffe's update, the learning-rate
// policies against Caffe's formulas.
#include <cmath>

#include "test_util.h"
#include "train/lr_policy.h"
#include "train/sgd.h"

namespace deftnn::test {
namespace {

using namespace deftnn::train;

TEST(Sgd, MatchesCaffeByHand) {
  // lr 0.1, momentum 0.9, decay 0.01; w = [1, -2], g = [0.5, 0.25], v = [0.1, 0].
  // g' = g + 0.01 w = [0.51, 0.23]; v = 0.1 g' + 0.9 v = [0.141, 0.023];
  // w = w - v = [0.859, -2.023].
  float w[] = {1.f, -2.f}, g[] = {0.5f, 0.25f}, v[] = {0.1f, 0.f};
  sgd_update_cpu(w, g, v, 2, 0.1f, 0.9f, 0.01f);
  EXPECT_NEAR(v[0], 0.141, 1e-7);
  EXPECT_NEAR(v[1], 0.023, 1e-7);
  EXPECT_NEAR(w[0], 0.859, 1e-7);
  EXPECT_NEAR(w[1], -2.023, 1e-7);
  // Second step, same gradient: g' = [0.50859, 0.22977]; v = [0.050859 + 0.1269, 0.022977 + 0.0207].
  sgd_update_cpu(w, g, v, 2, 0.1f, 0.9f, 0.01f);
  EXPECT_NEAR(v[0], 0.177759, 1e-6);
  EXPECT_NEAR(v[1], 0.043677, 1e-6);
  EXPECT_NEAR(w[0], 0.859 - 0.177759, 1e-6);
  EXPECT_NEAR(w[1], -2.023 - 0.043677, 1e-6);
}

Param make_param(const std::string& name, std::vector<float> w, std::vector<float> g, bool trainable = true,
                 float lr_mult = 1.f, float decay_mult = 1.f) {
  Param p;
  p.name = name;
  p.value = Tensor::from_vector({int64_t(w.size())}, w);
  p.grad = Tensor::from_vector({int64_t(g.size())}, g);
  p.trainable = trainable;
  p.lr_mult = lr_mult;
  p.decay_mult = decay_mult;
  return p;
}

TEST(Sgd, HonoursTrainableAndMultipliers) {
  auto ctx = Context::cpu();
  Param weight = make_param("weight", {1.f}, {1.f});
  Param bias = make_param("bias", {1.f}, {1.f}, true, 2.f, 0.f);  // Caffe's usual bias settings
  Param frozen = make_param("running_mean", {1.f}, {1.f}, false);
  Sgd sgd({&weight, &bias, &frozen}, 0.9f, 0.1f);
  sgd.init_state(*ctx);
  sgd.step(*ctx, 0.5f);
  // weight: v = 0.5 * (1 + 0.1 * 1) = 0.55; bias: v = (0.5 * 2) * (1 + 0) = 1.
  EXPECT_FLOAT_EQ(weight.value.data<float>()[0], 1.f - 0.55f);
  EXPECT_FLOAT_EQ(bias.value.data<float>()[0], 0.f);
  EXPECT_EQ(frozen.value.data<float>()[0], 1.f);
  EXPECT_FALSE(sgd.history()[2].defined());
  sgd.step(*ctx, 0.5f);
  // weight: g' = 1 + 0.045 = 1.045; v = 0.5225 + 0.495 = 1.0175.
  EXPECT_NEAR(weight.value.data<float>()[0], 0.45 - 1.0175, 1e-6);
  // bias: v = 1 * 1 + 0.9 * 1 = 1.9 from w = 0.
  EXPECT_NEAR(bias.value.data<float>()[0], -1.9, 1e-6);
}

TEST(Sgd, GpuMatchesCpuBitForBit) {
  DEFTNN_REQUIRE_GPU();
  auto cpu = Context::cpu();
  auto gpu = Context::cuda();
  const int64_t n = 100003;  // not a multiple of the block size
  Tensor w = random_tensor({n}, 1), g = random_tensor({n}, 2), v = random_tensor({n}, 3, -0.1f, 0.1f);
  Tensor dw = w.to(Device::CUDA, *gpu), dg = g.to(Device::CUDA, *gpu), dv = v.to(Device::CUDA, *gpu);
  for (int it = 0; it < 3; ++it) {
    sgd_update(*cpu, w, g, v, 0.01f, 0.9f, 5e-4f);
    sgd_update(*gpu, dw, dg, dv, 0.01f, 0.9f, 5e-4f);
  }
  EXPECT_EQ(dw.to_vector(*gpu), w.to_vector(*cpu));
  EXPECT_EQ(dv.to_vector(*gpu), v.to_vector(*cpu));
}

TEST(LrPolicy, MatchesCaffeFormulas) {
  const double base = 0.01;
  auto near = [](float got, double want) { EXPECT_NEAR(got, want, std::fabs(want) * 1e-6) << "want " << want; };
  LrPolicy p;
  p.base_lr = base;
  p.policy = "fixed";
  for (int64_t it : {0, 1, 5000}) near(p.rate(it), base);

  p.policy = "step";
  p.gamma = 0.1;
  p.stepsize = 1000;
  near(p.rate(0), base);
  near(p.rate(999), base);
  near(p.rate(1000), base * 0.1);
  near(p.rate(2500), base * 0.01);

  p.policy = "multistep";
  p.gamma = 0.5;
  p.stepvalues = {100, 300};
  near(p.rate(99), base);
  near(p.rate(100), base * 0.5);
  near(p.rate(299), base * 0.5);
  near(p.rate(300), base * 0.25);
  near(p.rate(100000), base * 0.25);

  p.policy = "exp";
  p.gamma = 0.999;
  for (int64_t it : {0, 1, 700}) near(p.rate(it), base * std::pow(0.999, double(it)));

  p.policy = "inv";
  p.gamma = 1e-4;
  p.power = 0.75;
  for (int64_t it : {0, 1, 937, 10000}) near(p.rate(it), base * std::pow(1.0 + 1e-4 * double(it), -0.75));
  near(p.rate(10000), base * std::pow(2.0, -0.75));

  p.policy = "poly";
  p.power = 2;
  p.max_iter = 1000;
  near(p.rate(0), base);
  near(p.rate(500), base * 0.25);
  near(p.rate(900), base * 0.01);
  EXPECT_EQ(p.rate(1000), 0.f);

  p.policy = "sigmoid";
  p.gamma = -0.01;
  p.stepsize = 200;
  near(p.rate(200), base * 0.5);
  near(p.rate(0), base / (1 + std::exp(-2.0)));
}

TEST(LrPolicy, MissingParametersAreErrors) {
  LrPolicy p;
  p.policy = "step";
  EXPECT_THROW(p.validate(), Error);  // no stepsize
  p.policy = "multistep";
  EXPECT_THROW(p.validate(), Error);
  p.stepvalues = {300, 100};
  EXPECT_THROW(p.validate(), Error);
  p.policy = "poly";
  EXPECT_THROW(p.validate(), Error);
  p.policy = "cosine";
  try {
    p.validate();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multistep"), std::string::npos) << e.what();  // lists the known ones
  }
}

}  // namespace
}  // namespace deftnn::test
