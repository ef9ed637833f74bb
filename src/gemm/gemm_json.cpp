#include "gemm/gemm_json.h"

#include "core/error.h"

namespace deftnn {

nlohmann::json gemm_config_to_json(const GemmConfig& c) {
  return {{"backend", gemm_backend_name(c.backend)},
          {"format", c.format.name()},
          {"placement", fission_placement_name(c.placement)}};
}

GemmConfig gemm_config_from_json(const nlohmann::json& j) {
  DEFTNN_CHECK(j.is_object(), "'gemm' must be an object with backend, format and placement names, got {}", j.dump());
  GemmConfig c;
  for (const auto& [k, v] : j.items()) {
    DEFTNN_CHECK(v.is_string(), "'gemm.{}' must be a string, got {}", k, v.dump());
    const std::string s = v.get<std::string>();
    if (k == "backend") c.backend = gemm_backend_from_name(s);
    else if (k == "format") c.format = Format::parse(s);
    else if (k == "placement") c.placement = fission_placement_from_name(s);
    else DEFTNN_FAIL("unknown key 'gemm.{}' (known: backend, format, placement)", k);
  }
  return c;
}

}  // namespace deftnn
