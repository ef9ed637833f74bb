#include "tune/granularity.h"

#include <optional>

#include "core/error.h"

namespace deftnn::tune {

const char* granularity_name(Granularity g) { return g == Granularity::Channel ? "channel" : "tap"; }

Granularity parse_granularity(const std::string& name) {
  if (name == "tap") return Granularity::Tap;
  if (name == "channel") return Granularity::Channel;
  DEFTNN_FAIL("unknown SVE granularity '{}' (known: tap, channel)", name);
}

namespace {

int64_t pair_first(const nlohmann::json& v) { return v.is_array() ? v.at(0).get<int64_t>() : v.get<int64_t>(); }
int64_t pair_second(const nlohmann::json& v) { return v.is_array() ? v.at(1).get<int64_t>() : v.get<int64_t>(); }

// Layers that leave a feature's position (and so its channel) unchanged.
bool element_wise(const std::string& type) {
  return type == "relu" || type == "clip" || type == "activation" || type == "dropout" || type == "gelu";
}

std::optional<size_t> writer_of(Net& net, const std::string& tensor) {
  for (size_t i = 0; i < net.size(); ++i)
    for (const std::string& o : net.output_names(i))
      if (o == tensor) return i;
  return std::nullopt;
}

}  // namespace

int64_t elimination_group(Net& net, size_t index, Granularity g) {
  if (g == Granularity::Tap) return 1;
  Layer& l = net.layer(index);
  DEFTNN_CHECK(l.has_gemm(), "{}: layer '{}' ({}) has no synapse vectors to group", net.source(), l.name(), l.type());
  const nlohmann::json c = l.config();
  if (l.type() == "conv") return pair_first(c.at("kernel")) * pair_second(c.at("kernel"));
  std::string t = net.input_names(index).at(0);
  while (true) {
    const Shape s = net.tensor_shape(t, 1);
    if (s.size() == 4) return s[2] * s[3];  // (N, C, H, W): flattened channel-major, h*w features a channel
    if (s.size() != 2) return 1;            // tokens: per feature
    const std::optional<size_t> w = writer_of(net, t);
    if (!w) return 1;
    const std::string type = net.layer(*w).type();
    if (type != "flatten" && !element_wise(type)) return 1;
    t = net.input_names(*w).at(0);
  }
}

}  // namespace deftnn::tune
