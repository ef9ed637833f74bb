// Channel granularity in the optimiser (tune/granularity.h, sve/groups.h):
// which layers get which groups; a channel-granular elimination runs exactly
// as the engine's tap-granular masked weight (the dense net with the dropped
// taps' columns zeroed); the whole optimiser in channel mode keeps whole
// channels in every variant and twin and records the granularity.
#include <algorithm>
#include <cmath>

#include "net/net.h"
#include "sve/groups.h"
#include "sve/plan.h"
#include "test_util.h"
#include "tune/granularity.h"
#include "tune/optimize.h"
#include "tune/variants.h"

namespace deftnn::test {
namespace {

// conv1 (4 x 3x3) -> relu -> conv2 (6 x 3x3) -> pool -> flatten (6 x 4x4 = 96)
// -> ip1 (16) -> relu -> ip2 (10), on 1 x 12 x 12 images.
Net flat_net() {
  nlohmann::json g = {{"name", "flat"}, {"input", {1, 12, 12}}, {"classes", 10},
                      {"layers",
                       {{{"type", "conv"}, {"name", "conv1"}, {"out", 4}, {"kernel", 3}},
                        {{"type", "relu"}, {"name", "r1"}},
                        {{"type", "conv"}, {"name", "conv2"}, {"out", 6}, {"kernel", 3}},
                        {{"type", "maxpool"}, {"name", "pool"}, {"kernel", 2}, {"stride", 2}},
                        {{"type", "flatten"}, {"name", "flat"}},
                        {{"type", "linear"}, {"name", "ip1"}, {"out", 16}},
                        {{"type", "relu"}, {"name", "r2"}},
                        {{"type", "linear"}, {"name", "ip2"}, {"out", 10}}}}};
  Net net = Net::from_graph(g, "flat");
  net.init(4);
  return net;
}

TEST(TuneGranularity, GroupsPerLayer) {
  Net net = flat_net();
  auto layers = tune::gemm_layers(net);
  ASSERT_EQ(layers.size(), 4u);
  std::vector<int64_t> channel, tap;
  for (const auto& l : layers) {
    channel.push_back(tune::elimination_group(net, l.index, tune::Granularity::Channel));
    tap.push_back(tune::elimination_group(net, l.index, tune::Granularity::Tap));
  }
  // conv: kh*kw; ip1 flattens pool's 6 x 4 x 4: 16 features a channel; ip2
  // reads ip1's features: one column a group.
  EXPECT_EQ(channel, (std::vector<int64_t>{9, 9, 16, 1}));
  EXPECT_EQ(tap, (std::vector<int64_t>{1, 1, 1, 1}));
  // A linear layer on a 4-D tensor without a flatten layer groups the same way.
  nlohmann::json g = {{"name", "direct"}, {"input", {2, 5, 5}}, {"classes", 3},
                      {"layers", {{{"type", "conv"}, {"name", "c"}, {"out", 3}, {"kernel", {3, 1}}},
                                  {{"type", "linear"}, {"name", "fc"}, {"out", 3}}}}};
  Net direct = Net::from_graph(g, "direct");
  EXPECT_EQ(tune::elimination_group(direct, 0, tune::Granularity::Channel), 3);       // 3 x 1 taps
  EXPECT_EQ(tune::elimination_group(direct, 1, tune::Granularity::Channel), 3 * 5);  // conv output 3 x 5
  EXPECT_EQ(tune::parse_granularity("channel"), tune::Granularity::Channel);
  expect_words(error_of([] { tune::parse_granularity("filter"); }), {"granularity 'filter'", "tap, channel"});
}

// conv2 and ip1 keep half their channels, chosen by the group search,
// unscaled: the net's output equals the dense net's with those layers' dropped
// columns zeroed (the tap mask the channel choice stands for).
TEST(TuneGranularity, ChannelEliminationEqualsTheMaskedDenseNet) {
  auto ctx = Context::cpu();
  Net sve_net = flat_net(), masked = flat_net();
  sve_net.to(*ctx);
  masked.to(*ctx);
  auto layers = tune::gemm_layers(sve_net);
  int64_t kmax = 0;
  for (size_t li : {size_t(1), size_t(2)}) {
    const auto& l = layers[li];
    const int64_t group = tune::elimination_group(sve_net, l.index, tune::Granularity::Channel);
    tune::LayerSetting dense = tune::capture(sve_net, l, *ctx);
    Tensor w = dense.weight.reshape({l.M, l.K});
    const int64_t G = l.K / group;
    sve::SearchResult s = sve::group_search(sve::group_correlation_matrix(*ctx, w, group), group, G / 2, {});
    ASSERT_EQ(int64_t(s.kept.size()), G / 2 * group) << l.name;
    ASSERT_TRUE(sve::whole_groups(s.kept, group)) << l.name;
    sve::SvePlan plan = sve::make_plan(l.K, s.kept, /*scale=*/false);
    tune::LayerSetting st;
    st.state = sve::make_state(plan, SveTransform::Fused);
    st.state.group = group;
    st.weight = sve::apply_to_weight(plan, w);
    st.bias = dense.bias;
    tune::install(sve_net, l, st, *ctx);
    // The mask: every column not kept is zero.
    std::vector<char> keep(size_t(l.K), 0);
    for (int32_t k : s.kept) keep[size_t(k)] = 1;
    tune::LayerSetting m = dense;
    m.weight = Tensor::from_vector(dense.weight.shape(), dense.weight.to_vector(*ctx));
    float* p = m.weight.data<float>();
    for (int64_t r = 0; r < l.M; ++r)
      for (int64_t k = 0; k < l.K; ++k)
        if (!keep[size_t(k)]) p[r * l.K + k] = 0.f;
    tune::install(masked, l, m, *ctx);
    kmax = std::max(kmax, l.K);
  }
  Tensor x = random_tensor({5, 1, 12, 12}, 8);
  auto a = sve_net.forward(*ctx, x, false).to_vector(*ctx);
  auto b = masked.forward(*ctx, x, false).to_vector(*ctx);
  ASSERT_EQ(a.size(), b.size());
  // The same products, summed in another order (the SVE GEMM skips the zero
  // terms, and im2col only writes the kept rows): fp32 summation error
  // relative to the logits' size, 16 eps sqrt(K) per GEMM layer on the path
  // (4), as tests/python/check_onnx_export.py derives it.
  double worst = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  ASSERT_GT(scale, 0);
  EXPECT_LE(worst / scale, 16 * 0x1p-23 * std::sqrt(double(kmax)) * 4) << "max|logit| " << scale;
}

data::Dataset random_data(int64_t n, uint64_t seed) {
  data::Dataset d;
  d.name = "synthetic";
  d.images = random_tensor({n, 1, 12, 12}, seed);
  d.labels = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) d.labels.data<int32_t>()[i] = int32_t((i * 7 + int64_t(seed)) % 10);
  return d;
}

TEST(TuneGranularity, OptimiseInChannelModeKeepsWholeChannels) {
  auto ctx = Context::cpu();
  Net net = flat_net();
  net.to(*ctx);
  train::PreparedData d;
  d.train = random_data(256, 1);
  d.val = random_data(64, 2);
  d.test = random_data(64, 3);
  tune::OptimizeOptions o;
  o.granularity = tune::Granularity::Channel;
  o.densities = {0.5};
  o.finetune.iterations = 3;
  o.finetune.batch = 16;
  o.joint_flops = {0.9};
  o.joint_flops_iterations = {3};
  o.joint.batch = 16;
  o.stats_images = 32;
  o.time_rounds = 1;
  o.time_reps = 1;
  o.time_batch = 8;
  tune::OptimizeResult r = tune::optimize(net, *ctx, d, o);
  EXPECT_EQ(r.report["options"]["granularity"], "channel");
  ASSERT_EQ(r.optimised.size(), 2u);  // conv2, ip1 (conv1 is the input layer; ip2 under 1% of the FLOPs)
  const std::vector<std::pair<int64_t, int64_t>> want = {{9, 2 * 9}, {16, 3 * 16}};  // (group, kept): half the channels
  for (size_t s = 0; s < 2; ++s) {
    ASSERT_EQ(r.options[s].size(), 2u);
    for (const auto* list : {&r.options[s], &r.l1_options[s], &r.paper_options[s]}) {
      if (list->size() < 2) continue;
      const tune::Variant& v = (*list)[1];
      EXPECT_EQ(v.setting.state.group, want[s].first) << v.id;
      EXPECT_EQ(v.kept(), want[s].second) << v.id;
      EXPECT_TRUE(sve::whole_groups(v.setting.state.kept, want[s].first)) << v.id;
      EXPECT_EQ(v.to_json()["group"], want[s].first) << v.id;
    }
  }
}

}  // namespace
}  // namespace deftnn::test
