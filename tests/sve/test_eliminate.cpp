// Whole-net elimination at a fixed density (sve/eliminate.h).
#include "layers/conv.h"
#include "layers/linear.h"
#include "net/net.h"
#include "sve/eliminate.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

Net lenet() {
  Net net = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/lenet.json");
  net.init(3);
  return net;
}

TEST(SveEliminate, DensityOneIsTheDenseNetExactly) {
  auto ctx = Context::cpu();
  Net dense = lenet(), full = lenet();
  sve::EliminateOptions o;
  o.density = 1.0;
  auto done = sve::eliminate(full, *ctx, o);
  ASSERT_EQ(done.size(), 3u);  // conv2, ip1, ip2 (conv1 skipped by default)
  Tensor x = random_tensor({2, 1, 28, 28}, 11);
  auto a = dense.forward(*ctx, x, false).to_vector(*ctx);
  auto b = full.forward(*ctx, x, false).to_vector(*ctx);
  // Identity order and scale K/K = 1: the same products in the same order.
  EXPECT_EQ(a, b);
}

TEST(SveEliminate, HalfDensityKeepsHalfOfEveryLayerButTheFirst) {
  auto ctx = Context::cpu();
  for (std::string method : {"sve", "l1"}) {
    Net net = lenet();
    sve::EliminateOptions o;
    o.density = 0.5;
    o.method = method;
    auto done = sve::eliminate(net, *ctx, o);
    ASSERT_EQ(done.size(), 3u) << method;
    EXPECT_EQ(done[0].name, "conv2");
    for (const auto& l : done) EXPECT_EQ(l.kept, (l.k + 1) / 2) << method << " " << l.name;  // llround(K/2)
    auto* conv2 = dynamic_cast<Conv2d*>(net.find("conv2"));
    ASSERT_TRUE(conv2);
    EXPECT_EQ(conv2->gemm_k(), done[0].kept);
    EXPECT_FALSE(net.find("conv1")->as_gemm()->sve().active());
    Tensor x = random_tensor({2, 1, 28, 28}, 12);
    Tensor y = net.forward(*ctx, x, false);
    EXPECT_EQ(y.shape(), (Shape{2, 10}));
    for (float v : y.to_vector(*ctx)) EXPECT_TRUE(std::isfinite(v));
  }
}

TEST(SveEliminate, RejectsBadOptions) {
  auto ctx = Context::cpu();
  Net net = lenet();
  sve::EliminateOptions o;
  o.density = 0;
  EXPECT_THROW(sve::eliminate(net, *ctx, o), Error);
  o.density = 0.5;
  o.method = "random";
  EXPECT_THROW(sve::eliminate(net, *ctx, o), Error);
}

TEST(SveEliminate, RunsOnTheGpu) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  auto cpu = Context::cpu();
  Net a = lenet(), b = lenet();
  sve::EliminateOptions o;
  o.density = 0.5;
  o.method = "l1";  // deterministic and device-independent choice
  sve::eliminate(a, *cpu, o);
  b.to(*ctx);
  sve::eliminate(b, *ctx, o);
  Tensor x = random_tensor({3, 1, 28, 28}, 13);
  auto ya = a.forward(*cpu, x, false).to_vector(*cpu);
  auto yb = b.forward(*ctx, x.to(Device::CUDA, *ctx), false).to_vector(*ctx);
  std::vector<double> ref(ya.begin(), ya.end());
  EXPECT_TRUE(all_close(yb, ref, 1e-4, 1e-4, "LeNet at 50% density, CUDA vs CPU"));
}

}  // namespace
}  // namespace deftnn::test
