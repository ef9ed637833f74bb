#include "plan/parse.h"

#include <algorithm>
#include <initializer_list>

#include "core/error.h"

namespace deftnn::plan {

namespace {

using nlohmann::json;

// The value of `all` whose name is `name`, else an Error listing the names.
template <class T, class NameFn>
T by_name(const std::string& name, std::initializer_list<T> all, NameFn name_of, const char* what) {
  std::string known;
  for (T v : all) {
    if (name == name_of(v)) return v;
    known += (known.empty() ? "" : ", ") + std::string(name_of(v));
  }
  DEFTNN_FAIL("unknown {} '{}' (known: {})", what, name, known);
}

std::string string_at(const json& j, const std::string& key, const char* where) {
  DEFTNN_CHECK(j.at(key).is_string(), "{}: '{}' must be a string, got {}", where, key, j.at(key).dump());
  return j.at(key).get<std::string>();
}

// A flag's comma-separated list "VALUE,LAYER=VALUE,...": at most one entry
// without a layer (every layer's), the others per layer.
template <class T>
struct PerLayer {
  std::optional<T> all;
  std::map<std::string, T> layers;
};

// flag "--kernel", what "a kernel", upper "KERNEL" (for the messages).
template <class T, class Parse>
PerLayer<T> parse_per_layer(const std::string& text, const char* flag, const char* what, const char* upper,
                            Parse parse) {
  PerLayer<T> out;
  std::string first;
  for (size_t pos = 0; !text.empty() && pos <= text.size();) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      DEFTNN_CHECK(!out.all, "{} gives {} for every layer twice ('{}' and '{}')", flag, what, first, item);
      out.all = parse(item);
      first = item;
      continue;
    }
    DEFTNN_CHECK(eq > 0 && eq + 1 < item.size(), "bad {} entry '{}' (want {} or LAYER={})", flag, item, upper, upper);
    out.layers[item.substr(0, eq)] = parse(item.substr(eq + 1));
  }
  return out;
}

}  // namespace

Precision parse_precision(const std::string& name) {
  return by_name(name, {Precision::FP32, Precision::TF32, Precision::BF16, Precision::FP16, Precision::FP8E4M3},
                 precision_name, "precision");
}

KernelFamily parse_kernel(const std::string& name) {
  return by_name(name,
                 {KernelFamily::Auto, KernelFamily::CpuBlas, KernelFamily::Cublas, KernelFamily::Cudnn,
                  KernelFamily::Fission, KernelFamily::Mixed},
                 kernel_family_name, "kernel");
}

MixedChoice parse_mixed_choice(const std::string& name) {
  return by_name(name, {MixedChoice::Measure, MixedChoice::Kernel, MixedChoice::Dequantized}, mixed_choice_name,
                 "mixed choice");
}

FissionPlacement parse_placement(const std::string& name) {
  return by_name(name, {FissionPlacement::OnChip, FissionPlacement::OffChip, FissionPlacement::Compute16},
                 fission_placement_name, "fission placement");
}

Format parse_format(const std::string& name) { return Format::parse(name); }

SveTransform parse_transform(const std::string& name) {
  return by_name(name, {SveTransform::Fused, SveTransform::Copy, SveTransform::Swap}, sve_transform_name,
                 "SVE input transform");
}

std::vector<Format> parse_formats(const std::vector<std::string>& names) {
  std::vector<Format> v;
  for (const std::string& n : names) v.push_back(parse_format(n));
  return v;
}

ExecPlan from_flags(const PlanFlags& flags, ExecPlan base) {
  // Parse everything before changing anything, so an error leaves no half plan.
  const auto kernels = parse_per_layer<KernelFamily>(flags.kernel, "--kernel", "a kernel", "KERNEL", parse_kernel);
  const std::optional<KernelFamily>& kernel = kernels.all;
  const auto precisions =
      parse_per_layer<Precision>(flags.precision, "--precision", "a precision", "PRECISION", parse_precision);
  const std::optional<Precision>& precision = precisions.all;
  std::optional<SveTransform> transform;
  std::optional<Format> all;
  std::map<std::string, Format> per_layer;
  if (!flags.transform.empty()) transform = parse_transform(flags.transform);
  // --weights: nullopt inside = none (back to fp32 weights on the default kernel)
  using Weights = std::optional<mixed::WeightFormat>;
  const auto weights = parse_per_layer<Weights>(flags.weights, "--weights", "the weights", "WEIGHTS",
                                                [](const std::string& s) -> Weights {
                                                  if (s == "none") return std::nullopt;
                                                  return mixed::WeightFormat::parse(s);
                                                });
  const std::optional<Weights>& all_weights = weights.all;
  std::optional<MixedChoice> mixed_choice;
  if (!flags.mixed_choice.empty()) mixed_choice = parse_mixed_choice(flags.mixed_choice);
  const auto set_weights = [](LayerExec& e, const Weights& w) {
    if (w) e.kernel = KernelFamily::Mixed, e.weights = *w;
    else if (e.kernel == KernelFamily::Mixed) e.kernel = KernelFamily::Auto, e.weights = {};
  };
  for (const std::string& item : flags.format) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      DEFTNN_CHECK(!all, "--format gives a format for every layer twice ('{}' and '{}')", all->name(), item);
      all = parse_format(item);
      continue;
    }
    DEFTNN_CHECK(eq > 0 && eq + 1 < item.size(), "bad --format entry '{}' (want FORMAT or LAYER=FORMAT)", item);
    per_layer[item.substr(0, eq)] = parse_format(item.substr(eq + 1));
  }
  auto apply = [&](LayerExec& e) {
    if (kernel) e.kernel = *kernel;
    if (precision) e.precision = *precision;
    if (transform) e.transform = *transform;
    if (all) e.format = *all;
    if (all_weights) set_weights(e, *all_weights);
    if (mixed_choice) e.mixed_choice = *mixed_choice;
  };
  apply(base.defaults);
  for (auto& [name, e] : base.layers) apply(e);
  for (const auto& [name, f] : per_layer) {
    auto [it, fresh] = base.layers.try_emplace(name, base.defaults);
    it->second.format = f;
  }
  for (const auto& [name, w] : weights.layers) {
    auto [it, fresh] = base.layers.try_emplace(name, base.defaults);
    set_weights(it->second, w);
    if (w) base.weights_named.insert(name);
    else base.weights_named.erase(name);
  }
  for (const auto& [name, k] : kernels.layers) {
    auto [it, fresh] = base.layers.try_emplace(name, base.defaults);
    it->second.kernel = k;
  }
  for (const auto& [name, p] : precisions.layers) {
    auto [it, fresh] = base.layers.try_emplace(name, base.defaults);
    it->second.precision = p;
  }
  if (flags.no_fuse) base.fuse_inference = false;
  if (flags.no_trunk) base.trunk = TrunkPolicy::Off;
  return base;
}

json to_json(const LayerExec& e) {
  json j = {{"precision", precision_name(e.precision)},
            {"kernel", kernel_family_name(e.kernel)},
            {"format", e.format.name()},
            {"placement", fission_placement_name(e.placement)}};
  if (e.transform) j["transform"] = sve_transform_name(*e.transform);
  if (e.kernel == KernelFamily::Mixed) {
    j["weights"] = e.weights.name();
    j["mixed_choice"] = mixed_choice_name(e.mixed_choice);
  }
  return j;
}

LayerExec layer_exec_from_json(const json& j) {
  DEFTNN_CHECK(j.is_object(), "a layer's plan entry must be an object, got {}", j.dump());
  LayerExec e;
  for (const auto& [k, v] : j.items()) {
    const std::string s = string_at(j, k, "plan entry");
    if (k == "precision") e.precision = parse_precision(s);
    else if (k == "kernel") e.kernel = parse_kernel(s);
    else if (k == "format") e.format = parse_format(s);
    else if (k == "placement") e.placement = parse_placement(s);
    else if (k == "transform") e.transform = parse_transform(s);
    else if (k == "weights") e.weights = mixed::WeightFormat::parse(s);
    else if (k == "mixed_choice") e.mixed_choice = parse_mixed_choice(s);
    else DEFTNN_FAIL("unknown key '{}' in a layer's plan entry (known: precision, kernel, format, placement, transform, "
                     "weights, mixed_choice)", k);
  }
  return e;
}

LayerExec layer_exec_from_legacy_gemm(const json& j) {
  DEFTNN_CHECK(j.is_object(), "'gemm' must be an object with backend, format and placement names, got {}", j.dump());
  LayerExec e;
  for (const auto& [k, v] : j.items()) {
    const std::string s = string_at(j, k, "'gemm'");
    if (k == "backend") {
      // The old backend names: the cuBLAS ones carried the precision.
      if (s == "cublas-tf32") e.kernel = KernelFamily::Cublas, e.precision = Precision::TF32;
      else if (s == "cublas-bf16") e.kernel = KernelFamily::Cublas, e.precision = Precision::BF16;
      else if (s == "cudnn") DEFTNN_FAIL("'gemm.backend' cudnn was never a model-file value");
      else e.kernel = parse_kernel(s);
    } else if (k == "format") {
      e.format = parse_format(s);
    } else if (k == "placement") {
      e.placement = parse_placement(s);
    } else {
      DEFTNN_FAIL("unknown key 'gemm.{}' (known: backend, format, placement)", k);
    }
  }
  return e;
}

json to_json(const ExecPlan& p) {
  json layers = json::object();
  for (const auto& [name, e] : p.layers) layers[name] = to_json(e);
  return {{"version", 1},
          {"fuse_inference", p.fuse_inference},
          {"trunk", trunk_policy_name(p.trunk)},
          {"default", to_json(p.defaults)},
          {"layers", layers}};
}

ExecPlan from_json(const json& j) {
  DEFTNN_CHECK(j.is_object(), "the execution plan must be a JSON object, got {}", j.dump());
  ExecPlan p;
  for (const auto& [k, v] : j.items()) {
    if (k == "version") {
      DEFTNN_CHECK(v == 1, "execution plan version {} is not supported (this build reads 1)", v.dump());
    } else if (k == "fuse_inference") {
      DEFTNN_CHECK(v.is_boolean(), "plan: 'fuse_inference' must be true or false, got {}", v.dump());
      p.fuse_inference = v.get<bool>();
    } else if (k == "trunk") {
      p.trunk = by_name(string_at(j, k, "plan"), {TrunkPolicy::Auto, TrunkPolicy::Off, TrunkPolicy::On},
                        trunk_policy_name, "trunk policy");
    } else if (k == "default") {
      p.defaults = layer_exec_from_json(v);
    } else if (k == "layers") {
      DEFTNN_CHECK(v.is_object(), "plan: 'layers' must be an object keyed by layer name, got {}", v.dump());
      for (const auto& [name, e] : v.items()) {
        try {
          p.layers[name] = layer_exec_from_json(e);
          if (p.layers[name].kernel == KernelFamily::Mixed) p.weights_named.insert(name);
        } catch (const Error& err) {
          DEFTNN_FAIL("plan: layer '{}': {}", name, err.message());
        }
      }
    } else {
      DEFTNN_FAIL("unknown key '{}' in the execution plan (known: version, fuse_inference, trunk, default, layers)", k);
    }
  }
  return p;
}

}  // namespace deftnn::plan
