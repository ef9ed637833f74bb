// The layer registry: known types, the unknown-type message, missing and
// invalid keys, and config() round trips for every type.
#include <algorithm>

#include "layers/layer_test_util.h"

namespace deftnn::test {
namespace {

// A non-default configuration of every type this suite owns (conv and linear
// are tested by their own suites).
const std::vector<nlohmann::json> kSamples = {
    {{"type", "relu"}, {"name", "relu1"}, {"negative_slope", 0.125}},
    {{"type", "clip"}, {"name", "clip1"}, {"min", 0.0}, {"max", 6.0}},
    {{"type", "activation"}, {"name", "hsig1"}, {"kind", "hardsigmoid"}, {"alpha", 0.25}, {"beta", 0.375}},
    {{"type", "maxpool"}, {"name", "pool_floor"}, {"kernel", 3}, {"stride", 2}, {"pad", 1}, {"ceil", false}},
    {{"type", "maxpool"}, {"name", "pool1"}, {"kernel", 3}, {"stride", 2}, {"pad", 1}},
    {{"type", "avgpool"}, {"name", "pool2"}, {"kernel", 2}, {"stride", 2}, {"pad", 0}},
    {{"type", "lrn"}, {"name", "norm1"}, {"local_size", 3}, {"alpha", 1e-4}, {"beta", 0.75}, {"k", 2.0}},
    {{"type", "dropout"}, {"name", "drop6"}, {"ratio", 0.3}, {"seed", 17}},
    {{"type", "flatten"}, {"name", "flat"}},
    {{"type", "batchnorm"}, {"name", "bn1"}, {"eps", 1e-3}, {"momentum", 0.99}},
    {{"type", "softmax"}, {"name", "prob"}},
    {{"type", "add"}, {"name", "sum"}},
    {{"type", "concat"}, {"name", "cat"}, {"axis", 2}},
    {{"type", "split"}, {"name", "sp"}, {"axis", 1}, {"sizes", {2, 3}}},
    {{"type", "layernorm"}, {"name", "ln"}, {"eps", 1e-5}},
    {{"type", "gelu"}, {"name", "act"}},
    {{"type", "l2norm"}, {"name", "unit"}, {"eps", 1e-6}},
    {{"type", "meanpool"}, {"name", "mp"}},
    {{"type", "embedding"}, {"name", "emb"}, {"vocab", 30}, {"hidden", 8}, {"positions", 16}, {"token_types", 2},
     {"std", 0.05}},
    {{"type", "attention"}, {"name", "att"}, {"heads", 12}},
};

std::string message_of(const nlohmann::json& spec) {
  try {
    make_layer(spec);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << spec.dump() << " was accepted";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Registry, KnowsEveryLayerType) {
  auto known = known_layer_types();
  for (const auto& s : kSamples)
    EXPECT_NE(std::find(known.begin(), known.end(), s["type"].get<std::string>()), known.end()) << s["type"];
  for (const auto& t : known) {
    bool sampled = std::any_of(kSamples.begin(), kSamples.end(), [&](const auto& s) { return s["type"] == t; });
    EXPECT_TRUE(sampled || t == "conv" || t == "linear") << "no sample for layer type " << t;
  }
}

TEST(Registry, UnknownTypeListsKnownTypes) {
  std::string m = message_of({{"type", "maxpooling"}, {"name", "p"}});
  EXPECT_TRUE(contains(m, "'maxpooling'")) << m;
  for (const auto& t : known_layer_types()) EXPECT_TRUE(contains(m, t)) << m;
}

TEST(Registry, BadKeysNameTheLayerAndTheKey) {
  struct Case {
    nlohmann::json spec;
    std::string key;
  };
  std::vector<Case> cases = {
      {{{"type", "maxpool"}, {"name", "pool1"}}, "kernel"},  // missing
      {{{"type", "maxpool"}, {"name", "pool1"}, {"kernel", "3"}}, "kernel"},
      {{{"type", "avgpool"}, {"name", "pool1"}, {"kernel", 0}}, "kernel"},
      {{{"type", "avgpool"}, {"name", "pool1"}, {"kernel", 2.5}}, "kernel"},
      {{{"type", "maxpool"}, {"name", "pool1"}, {"kernel", 3}, {"stride", 0}}, "stride"},
      {{{"type", "maxpool"}, {"name", "pool1"}, {"kernel", 3}, {"pad", 3}}, "pad"},
      {{{"type", "maxpool"}, {"name", "pool1"}, {"kernel", 3}, {"stide", 2}}, "stide"},  // unknown key
      {{{"type", "dropout"}, {"name", "pool1"}, {"ratio", 1.0}}, "ratio"},
      {{{"type", "dropout"}, {"name", "pool1"}, {"ratio", -0.1}}, "ratio"},
      {{{"type", "dropout"}, {"name", "pool1"}, {"seed", -1}}, "seed"},
      {{{"type", "lrn"}, {"name", "pool1"}, {"k", 0}}, "k"},
      {{{"type", "lrn"}, {"name", "pool1"}, {"local_size", 0}}, "local_size"},
      {{{"type", "lrn"}, {"name", "pool1"}, {"alpha", "big"}}, "alpha"},
      {{{"type", "batchnorm"}, {"name", "pool1"}, {"eps", 0}}, "eps"},
      {{{"type", "batchnorm"}, {"name", "pool1"}, {"momentum", 1.5}}, "momentum"},
      {{{"type", "relu"}, {"name", "pool1"}, {"negative_slope", nullptr}}, "negative_slope"},
      {{{"type", "flatten"}, {"name", "pool1"}, {"axis", 1}}, "axis"},
      {{{"type", "layernorm"}, {"name", "pool1"}, {"eps", -1}}, "eps"},
      {{{"type", "l2norm"}, {"name", "pool1"}, {"eps", 0}}, "eps"},
      {{{"type", "embedding"}, {"name", "pool1"}, {"hidden", 4}}, "vocab"},
      {{{"type", "embedding"}, {"name", "pool1"}, {"vocab", 4}, {"hidden", 0}}, "hidden"},
      {{{"type", "embedding"}, {"name", "pool1"}, {"vocab", 4}, {"hidden", 4}, {"positions", -1}}, "positions"},
      {{{"type", "attention"}, {"name", "pool1"}}, "heads"},
      {{{"type", "attention"}, {"name", "pool1"}, {"heads", 0}}, "heads"},
  };
  for (const auto& c : cases) {
    std::string m = message_of(c.spec);
    EXPECT_TRUE(contains(m, "'pool1'") && contains(m, "'" + c.key + "'")) << c.spec.dump() << ": " << m;
  }
  EXPECT_TRUE(contains(message_of({{"name", "x"}}), "'type'"));
  EXPECT_TRUE(contains(message_of({{"type", "relu"}}), "'name'"));
  EXPECT_TRUE(contains(message_of({{"type", "relu"}, {"name", ""}}), "'name'"));
  EXPECT_TRUE(contains(message_of(nlohmann::json::array()), "object"));
}

TEST(Registry, ConfigRoundTrips) {
  for (const auto& s : kSamples) {
    auto l = make_layer(s);
    EXPECT_EQ(l->type(), s["type"].get<std::string>());
    EXPECT_EQ(l->name(), s["name"].get<std::string>());
    auto c = l->config();
    for (const auto& [k, v] : s.items()) EXPECT_EQ(c[k], v) << s.dump() << " key " << k;
    EXPECT_EQ(make_layer(c)->config(), c) << s.dump();
  }
  // Defaults appear in the config and survive the trip.
  auto c = make_layer({{"type", "lrn"}, {"name", "n"}})->config();
  EXPECT_EQ(c["local_size"], 5);
  EXPECT_EQ(c["alpha"], 1.0);
  EXPECT_EQ(c["beta"], 0.75);
  EXPECT_EQ(c["k"], 1.0);
  EXPECT_EQ(make_layer({{"type", "maxpool"}, {"name", "p"}, {"kernel", 2}})->config()["stride"], 1);
  EXPECT_EQ(make_layer({{"type", "dropout"}, {"name", "d"}})->config()["ratio"], 0.5);
}

}  // namespace
}  // namespace deftnn::test
