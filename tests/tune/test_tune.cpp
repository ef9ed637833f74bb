// The optimiser's pieces: the Pareto frontier and the selector on hand-made
// points; installing an SVE setting on a real net and restoring the dense one
// (bit-exact outputs); a variant with every vector kept equals the dense net.
#include <numeric>

#include "net/net.h"
#include "sve/plan.h"
#include "test_util.h"
#include "tune/frontier.h"
#include "tune/variants.h"

namespace deftnn::test {
namespace {

tune::Point pt(double t, double acc) {
  tune::Point p;
  p.time_ms = t;
  p.val_acc = acc;
  p.speedup = 10.0 / t;
  return p;
}

TEST(TuneFrontier, KeepsOnlyNonDominatedPointsFastestLast) {
  std::vector<tune::Point> pts = {pt(10, 0.90), pt(8, 0.895), pt(8, 0.88), pt(9, 0.85), pt(6, 0.87),
                                  pt(5, 0.80),  pt(6, 0.87)};
  auto f = tune::pareto_frontier(pts);
  ASSERT_EQ(f.size(), 4u);  // (10, .90) (8, .895) (6, .87) (5, .80); (6, .87) twice keeps one
  EXPECT_EQ(f[0].time_ms, 10);
  EXPECT_EQ(f[1].time_ms, 8);
  EXPECT_EQ(f[1].val_acc, 0.895);
  EXPECT_EQ(f[2].time_ms, 6);
  EXPECT_EQ(f[3].time_ms, 5);
}

TEST(TuneFrontier, SelectorNearestTarget) {
  auto f = tune::pareto_frontier({pt(10, 0.90), pt(8, 0.895), pt(6, 0.87), pt(5, 0.80)});
  EXPECT_EQ(tune::select_point(f, 0.89, std::nullopt), 1u);   // fastest with >= 89%
  EXPECT_EQ(tune::select_point(f, 0.95, std::nullopt), 0u);   // unreachable: most accurate
  EXPECT_EQ(tune::select_point(f, std::nullopt, 1.5), 2u);    // most accurate with >= 1.5x
  EXPECT_EQ(tune::select_point(f, std::nullopt, 9.0), 3u);    // unreachable: fastest
  EXPECT_EQ(tune::select_point(f, std::nullopt, std::nullopt), 0u);  // within 0.2 points of the best: only 90%
}

Net small_lenet() {
  nlohmann::json g = {{"name", "tiny"}, {"input", {1, 12, 12}}, {"classes", 10},
                      {"layers",
                       {{{"type", "conv"}, {"name", "conv1"}, {"out", 4}, {"kernel", 3}},
                        {{"type", "conv"}, {"name", "conv2"}, {"out", 6}, {"kernel", 3}},
                        {{"type", "linear"}, {"name", "ip1"}, {"out", 16}},
                        {{"type", "relu"}, {"name", "relu1"}},
                        {{"type", "linear"}, {"name", "ip2"}, {"out", 10}}}}};
  Net net = Net::from_graph(g, "tiny");
  net.init(3);
  return net;
}

TEST(TuneVariants, InstallAndRestoreIsBitExact) {
  auto ctx = Context::cpu();
  Net net = small_lenet();
  net.to(*ctx);
  auto layers = tune::gemm_layers(net);
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[1].K, 4 * 9);
  EXPECT_EQ(layers[2].K, 6 * 8 * 8);
  Tensor x = random_tensor({3, 1, 12, 12}, 5);
  auto dense_out = net.forward(*ctx, x, false).to_vector(*ctx);
  for (size_t li : {size_t(1), size_t(2), size_t(3)}) {
    const auto& l = layers[li];
    tune::LayerSetting dense = tune::capture(net, l, *ctx);
    // Every vector kept (identity plan through the layer's SVE path): same output.
    std::vector<int32_t> all(size_t(l.K));
    std::iota(all.begin(), all.end(), 0);
    auto id = sve::make_plan(l.K, all);
    tune::LayerSetting s;
    s.state = sve::make_state(id, SveTransform::Copy);
    s.weight = sve::apply_to_weight(id, dense.weight.reshape({l.M, l.K}));
    s.bias = dense.bias;
    tune::install(net, l, s, *ctx);
    EXPECT_EQ(net.forward(*ctx, x, false).to_vector(*ctx), dense_out) << l.name;
    // Half kept: the output changes; restoring dense gives the same bits back.
    std::vector<int32_t> half;
    for (int32_t k = 0; k < l.K; k += 2) half.push_back(k);
    auto p = sve::make_plan(l.K, half);
    s.state = sve::make_state(p, SveTransform::Swap);
    s.weight = sve::apply_to_weight(p, dense.weight.reshape({l.M, l.K}));
    tune::install(net, l, s, *ctx);
    EXPECT_NE(net.forward(*ctx, x, false).to_vector(*ctx), dense_out) << l.name;
    tune::install(net, l, dense, *ctx);
    EXPECT_EQ(net.forward(*ctx, x, false).to_vector(*ctx), dense_out) << l.name;
  }
}

}  // namespace
}  // namespace deftnn::test
