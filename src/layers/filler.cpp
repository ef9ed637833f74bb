#include "layers/filler.h"

#include <cmath>

namespace deftnn {

void check_filler(const nlohmann::json& filler, const std::string& layer) {
  DEFTNN_CHECK(filler.is_object() && filler.contains("type") && filler["type"].is_string(),
               "layer '{}': weight_filler needs a string \"type\", got {}", layer, filler.dump());
  const std::string t = filler.at("type").get<std::string>();
  DEFTNN_CHECK(t == "xavier" || t == "gaussian", "layer '{}': unknown weight_filler '{}' (known: xavier, gaussian)",
               layer, t);
  for (const auto& [key, v] : filler.items()) {
    if (key == "type") continue;
    DEFTNN_CHECK(t == "gaussian" && key == "std", "layer '{}': unknown key '{}' in a {} weight_filler (known: {})",
                 layer, key, t, t == "gaussian" ? "type, std" : "type");
    DEFTNN_CHECK(v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0 && v.get<double>() <= 1e30,
                 "layer '{}': weight_filler \"std\" must be a number in [0, 1e30], got {}", layer, v.dump());
  }
}

void fill_weight(Tensor& w, const nlohmann::json& filler, int64_t fan_in, Rng& rng, const std::string& layer) {
  check_filler(filler, layer);
  DEFTNN_CHECK(!w.is_cuda(), "layer '{}': init_params before moving the parameters to the GPU", layer);
  float* p = w.data<float>();
  const int64_t n = w.numel();
  if (filler.at("type") == "gaussian") {
    const float sd = filler.value("std", 0.01f);
    for (int64_t i = 0; i < n; ++i) p[i] = rng.normal(0.f, sd);
  } else {
    const float a = std::sqrt(3.f / float(fan_in > 0 ? fan_in : 1));
    for (int64_t i = 0; i < n; ++i) p[i] = rng.uniform(-a, a);
  }
}

}  // namespace deftnn
