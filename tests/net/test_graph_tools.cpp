// The tools on a branching graph: the per-layer benchmark follows the
// graph's tensors (a residual add, a concat, a skipped dropout on a branch)
// with the inference plan's fusions on and off, and a GEMM layer's input
// statistics are the moments of the tensor it reads, computed by the graph
// up to that tensor (checked against a net whose output is that tensor).
#include <nlohmann/json.hpp>

#include "bench/net_bench.h"
#include "net/net.h"
#include "test_util.h"
#include "tune/variants.h"

namespace deftnn::test {
namespace {

using json = nlohmann::json;

// Two branches off the stem (conv -> ReLU, and a 1x1 conv behind a dropout)
// meet in an add; a concat of the sum and the stem; a conv reading the
// concat; a linear head. `outputs`: the graph outputs, when not the head.
json branching_graph(const std::string& outputs = "") {
  json g = json::parse(R"({"name": "branching", "input": [2, 6, 6], "layers": [
      {"type": "conv", "name": "stem", "out": 3, "kernel": 3, "pad": 1},
      {"type": "relu", "name": "stem_relu"},
      {"type": "conv", "name": "a", "out": 3, "kernel": 3, "pad": 1},
      {"type": "relu", "name": "a_relu"},
      {"type": "dropout", "name": "drop", "ratio": 0.5, "inputs": ["stem_relu"]},
      {"type": "conv", "name": "b", "out": 3, "kernel": 1},
      {"type": "add", "name": "sum", "inputs": ["a_relu", "b"]},
      {"type": "concat", "name": "cat", "inputs": ["sum", "stem_relu"]},
      {"type": "conv", "name": "c", "out": 2, "kernel": 3},
      {"type": "relu", "name": "c_relu"},
      {"type": "linear", "name": "fc", "out": 4}]})");
  if (outputs.empty())
    g["classes"] = 4;
  else
    g["outputs"] = json::array({outputs});
  return g;
}

Net branching_net(const std::string& outputs = "") {
  Net net = Net::from_graph(branching_graph(outputs), "branching");
  net.init(5);
  return net;
}

TEST(GraphTools, BenchTimesEveryLayerOfABranchingGraph) {
  auto ctx = Context::cpu();
  for (Net::TrunkFusion trunk : {Net::TrunkFusion::Off, Net::TrunkFusion::On}) {
    Net net = branching_net();
    net.trunk_fusion = trunk;
    bench::NetBenchOptions opt;
    opt.batch = 3;
    opt.timer = bench::TimerOptions{1, 2, false};
    bench::NetRun run = bench::bench_net(*ctx, net, "branching", bench::baseline_config(*ctx), opt);
    ASSERT_EQ(run.layers.size(), net.size());
    for (const bench::LayerResult& r : run.layers) EXPECT_EQ(r.time.reps, 2) << r.name;
    EXPECT_EQ(run.layers[6].name, "sum");
    EXPECT_EQ(run.layers[7].out_shape, (Shape{3, 6, 6, 6}));  // cat
    EXPECT_EQ(run.layers.back().out_shape, (Shape{3, 4}));
  }
}

// Mean of every im2col column entry (channel, kernel offset) of x (N, C, H, W)
// for a 3x3 kernel, stride 1, no padding, in fp64.
std::vector<double> patch_means(const Tensor& x) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), Ho = H - 2, Wo = W - 2;
  const float* p = x.data<float>();
  std::vector<double> m(size_t(C * 9), 0.0);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        double s = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t h = 0; h < Ho; ++h)
            for (int64_t w = 0; w < Wo; ++w) s += p[((n * C + c) * H + h + i) * W + w + j];
        m[size_t(c * 9 + i * 3 + j)] = s / double(N * Ho * Wo);
      }
  return m;
}

TEST(GraphTools, InputStatsFollowTheGraphToTheTensorALayerReads) {
  auto ctx = Context::cpu();
  Net net = branching_net();
  net.to(*ctx);
  const int64_t n = 5;
  data::Dataset d;
  d.name = "random";
  d.images = random_tensor({n, 2, 6, 6}, 17);
  d.labels = Tensor::empty({n}, DType::I32);
  auto layers = tune::gemm_layers(net);
  auto layer = [&](const std::string& name) {
    for (const tune::GemmLayer& l : layers)
      if (l.name == name) return l;
    ADD_FAILURE() << "no GEMM layer " << name;
    return tune::GemmLayer{};
  };
  // The reference: the same weights in a net whose output is the tensor.
  auto tensor = [&](const std::string& name) {
    Net ref = branching_net(name);
    for (size_t i = 0; i < ref.size(); ++i) {
      std::vector<Param*> from = net.find(ref.layer(i).name())->params(), to = ref.layer(i).params();
      for (size_t k = 0; k < to.size(); ++k) to[k]->value = from[k]->value.to(Device::CPU, *ctx);
    }
    ref.fuse_inference = false;
    return ref.forward(*ctx, d.images, false).to(Device::CPU, *ctx);
  };
  // c reads the concat of the add and the stem: (n, 6, 6, 6), 3x3 patches.
  sve::InputStats sc = tune::layer_input_stats(net, *ctx, layer("c"), d, n);
  ASSERT_EQ(sc.k, 6 * 9);
  EXPECT_EQ(sc.count, n * 4 * 4);
  const std::vector<double> want = patch_means(tensor("cat"));
  const std::vector<double> got = sc.mean();
  // The same fp32 tensor summed in fp64 either way: rounding of 1e-16 per term.
  for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(got[k], want[k], 1e-12) << "feature " << k;
  // b reads the stem's ReLU through the dropout (the identity at inference).
  sve::InputStats sb = tune::layer_input_stats(net, *ctx, layer("b"), d, n);
  const Tensor stem = tensor("stem_relu");
  ASSERT_EQ(sb.k, 3);
  EXPECT_EQ(sb.count, n * 6 * 6);
  for (int64_t c = 0; c < 3; ++c) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t p = 0; p < 36; ++p) s += stem.data<float>()[(i * 3 + c) * 36 + p];
    EXPECT_NEAR(sb.mean()[size_t(c)], s / double(n * 36), 1e-12) << "channel " << c;
  }
  // fc reads c's ReLU: one row of 32 features per image.
  sve::InputStats sf = tune::layer_input_stats(net, *ctx, layer("fc"), d, n);
  const Tensor h = tensor("c_relu");
  ASSERT_EQ(sf.k, 32);
  EXPECT_EQ(sf.count, n);
  for (int64_t k = 0; k < 32; ++k) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += h.data<float>()[i * 32 + k];
    EXPECT_NEAR(sf.mean()[size_t(k)], s / double(n), 1e-12) << "feature " << k;
  }
}

}  // namespace
}  // namespace deftnn::test
