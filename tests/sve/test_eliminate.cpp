// Whole-net elimination at a fixed density (sve/eliminate.h) and the rule for
// which layers it touches (sve/eligible.h).
#include <filesystem>
#include <tuple>

#include "layers/conv.h"
#include "layers/linear.h"
#include "net/net.h"
#include "sve/eligible.h"
#include "sve/eliminate.h"
#include "sve/groups.h"
#include "sve/method.h"
#include "sve/search.h"
#include "test_util.h"
#include "tune/granularity.h"

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
  for (sve::Method m : {sve::Method::Sve, sve::Method::L1}) {
    const std::string method = sve::method_name(m);
    Net net = lenet();
    sve::EliminateOptions o;
    o.density = 0.5;
    o.method = m;
    auto done = sve::eliminate(net, *ctx, o);
    ASSERT_EQ(done.size(), 3u) << method;
    EXPECT_EQ(done[0].name, "conv2");
    for (const auto& l : done) EXPECT_EQ(l.kept, sve::kept_count(0.5, l.k)) << method << " " << l.name;
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

TEST(SveEligible, InputLayerAndSmallLayersStayDense) {
  using sve::eligible_layers;
  const std::vector<int64_t> flops = {100, 500, 380, 20};  // shares 10%, 50%, 38%, 2%
  sve::Eligibility e;
  EXPECT_EQ(eligible_layers(flops, e), (std::vector<size_t>{1, 2, 3}));
  e.include_input_layer = true;
  EXPECT_EQ(eligible_layers(flops, e), (std::vector<size_t>{0, 1, 2, 3}));
  e.min_flops_share = 0.1;  // exactly the share of layer 0: it stays eligible
  EXPECT_EQ(eligible_layers(flops, e), (std::vector<size_t>{0, 1, 2}));
  e.include_input_layer = false;
  e.min_flops_share = 0.4;
  EXPECT_EQ(eligible_layers(flops, e), (std::vector<size_t>{1}));
  EXPECT_TRUE(eligible_layers(std::vector<int64_t>{}, e).empty());
  e.min_flops_share = 1.5;
  EXPECT_THROW(eligible_layers(flops, e), Error);
}

TEST(SveEligible, OverANetUsesItsGemmLayers) {
  const Net net = lenet();  // conv1 conv2 ip1 ip2: 0.58, 3.2, 0.8, 0.01 MFLOPs per image
  auto names = [&](const std::vector<size_t>& idx) {
    std::vector<std::string> v;
    for (size_t i : idx) v.push_back(net.layer(i).name());
    return v;
  };
  sve::Eligibility e;
  EXPECT_EQ(names(sve::eligible_layers(net, e)), (std::vector<std::string>{"conv2", "ip1", "ip2"}));
  e.min_flops_share = 0.01;  // the optimiser's default: ip2 (0.2%) stays dense
  EXPECT_EQ(names(sve::eligible_layers(net, e)), (std::vector<std::string>{"conv2", "ip1"}));
  e.include_input_layer = true;
  EXPECT_EQ(names(sve::eligible_layers(net, e)), (std::vector<std::string>{"conv1", "conv2", "ip1"}));
}

TEST(SveEliminate, FollowsTheEligibilityRule) {
  auto ctx = Context::cpu();
  Net net = lenet();
  sve::EliminateOptions o;
  o.density = 0.5;
  o.method = sve::Method::L1;
  o.layers.include_input_layer = true;
  o.layers.min_flops_share = 0.01;
  auto done = sve::eliminate(net, *ctx, o);
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0].name, "conv1");
  EXPECT_EQ(done[2].name, "ip1");
  EXPECT_FALSE(net.find("ip2")->as_gemm()->sve().active());
}

// Channel granularity (optimize --no-finetune --granularity channel): the
// density counts kept channels, every kept set is whole channels and stored
// with its group, and the model file round-trips (loading checks the groups).
TEST(SveEliminate, ChannelGroupsKeepWholeChannels) {
  auto ctx = Context::cpu();
  for (sve::Method m : {sve::Method::Sve, sve::Method::L1}) {
    const std::string method = sve::method_name(m);
    Net net = lenet();
    sve::EliminateOptions o;
    o.density = 0.3;  // conv2: 6 of 20 channels; ip1: 15 of 50 channels of 16 features; ip2: 150 of 500 features
    o.method = m;
    o.group_of = [&net](size_t i) { return tune::elimination_group(net, i, tune::Granularity::Channel); };
    auto done = sve::eliminate(net, *ctx, o);
    ASSERT_EQ(done.size(), 3u) << method;
    const std::vector<std::tuple<std::string, int64_t, int64_t>> want = {
        {"conv2", 25, 6 * 25}, {"ip1", 16, 15 * 16}, {"ip2", 1, 150}};
    for (size_t i = 0; i < want.size(); ++i) {
      const auto& [name, group, kept] = want[i];
      EXPECT_EQ(done[i].name, name) << method;
      EXPECT_EQ(done[i].group, group) << method << " " << name;
      EXPECT_EQ(done[i].kept, kept) << method << " " << name;
      const SveState& st = net.find(name)->as_gemm()->sve();
      EXPECT_EQ(st.group, group) << method << " " << name;
      EXPECT_TRUE(sve::whole_groups(st.kept, group)) << method << " " << name;
    }
    EXPECT_EQ(sve::to_json(done)[0].at("group"), 25);
    const auto dir = std::filesystem::temp_directory_path() / ("deftnn-elim-" + method);
    std::filesystem::create_directories(dir);
    const std::string p = (dir / "chan.safetensors").string();
    net.save(p);
    Net back = Net::load(p);
    std::filesystem::remove_all(dir);
    EXPECT_EQ(back.find("conv2")->as_gemm()->sve().group, 25) << method;
    Tensor x = random_tensor({2, 1, 28, 28}, 14);
    EXPECT_EQ(back.forward(*ctx, x, false).to_vector(*ctx), net.forward(*ctx, x, false).to_vector(*ctx)) << method;
  }
}

TEST(SveEliminate, GroupMustDivideK) {
  auto ctx = Context::cpu();
  Net net = lenet();
  sve::EliminateOptions o;
  o.group_of = [](size_t) { return int64_t(7); };  // conv2's K = 500 is not a multiple of 7
  try {
    sve::eliminate(net, *ctx, o);
    ADD_FAILURE() << "a group of 7 accepted for K = 500";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("elimination group 7 does not divide K = 500"), std::string::npos) << e.what();
  }
}

TEST(SveMethod, NamesRoundTripAndUnknownNamesListTheKnownOnes) {
  using sve::Method;
  const std::initializer_list<Method> all = {Method::Dense, Method::Sve, Method::SveLs, Method::L1};
  std::vector<std::string> names;
  for (Method m : all) {
    names.push_back(sve::method_name(m));
    EXPECT_EQ(sve::parse_method(names.back(), all, "method"), m) << names.back();
  }
  // The names reports and variant ids have always used.
  EXPECT_EQ(names, (std::vector<std::string>{"dense", "sve", "sve-ls", "l1"}));
  try {
    sve::parse_method("sve-ls", {Method::Sve, Method::L1}, "density method");
    ADD_FAILURE() << "sve-ls accepted where only sve and l1 are known";
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "unknown density method 'sve-ls' (known: sve, l1)");
  }
}

TEST(SveEliminate, RejectsBadOptions) {
  auto ctx = Context::cpu();
  Net net = lenet();
  sve::EliminateOptions o;
  o.density = 0;
  EXPECT_THROW(sve::eliminate(net, *ctx, o), Error);
  o.density = 0.5;
  o.method = sve::Method::SveLs;  // needs input statistics eliminate does not have
  EXPECT_THROW(sve::eliminate(net, *ctx, o), Error);
}

TEST(SveEliminate, RunsOnTheGpu) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  auto cpu = Context::cpu();
  Net a = lenet(), b = lenet();
  sve::EliminateOptions o;
  o.density = 0.5;
  o.method = sve::Method::L1;  // deterministic and device-independent choice
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
