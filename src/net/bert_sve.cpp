#include "net/bert_sve.h"

#include <set>

#include "core/error.h"
#include "core/input_file.h"
#include "net/bert.h"
#include "net/safetensors.h"
#include "synapse/sve_apply.h"

namespace deftnn::bert {

using json = nlohmann::json;

namespace {
constexpr const char* kSveKey = "deftnn.sve";
constexpr const char* kMetaKey = "deftnn.meta";
constexpr const char* kFormatKey = "deftnn.sve_format";
constexpr const char* kFormat = "bert-sve-1";
}  // namespace

std::vector<std::string> bert_linear_layers(const BertConfig& c) {
  std::vector<std::string> v;
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "encoder/layer/" + std::to_string(l) + "/";
    for (const char* n : {"attention/self/query", "attention/self/key", "attention/self/value",
                          "attention/output/dense", "intermediate/dense", "output/dense"})
      v.push_back(p + n);
  }
  return v;
}

BertSve read_bert_sve(const std::string& path) {
  TensorFile tf = read_safetensors(path);
  auto f = tf.metadata.find(kFormatKey);
  DEFTNN_CHECK(f != tf.metadata.end(), "{}: not a BERT SVE file: no '{}' in __metadata__", path, kFormatKey);
  DEFTNN_CHECK(f->second == kFormat, "{}: SVE file format '{}' is not supported (this build reads '{}')", path,
               f->second, kFormat);
  auto s = tf.metadata.find(kSveKey);
  DEFTNN_CHECK(s != tf.metadata.end(), "{}: no '{}' in __metadata__", path, kSveKey);
  const json entries = parse_json(s->second, DEFTNN_FORMAT("{}: __metadata__ '{}'", path, kSveKey));
  DEFTNN_CHECK(entries.is_object(), "{}: __metadata__ '{}' must hold a JSON object (layer -> SVE entry)", path,
               kSveKey);
  BertSve out;
  out.source = path;
  if (auto m = tf.metadata.find(kMetaKey); m != tf.metadata.end()) {
    out.meta = parse_json(m->second, DEFTNN_FORMAT("{}: __metadata__ '{}'", path, kMetaKey));
    DEFTNN_CHECK(out.meta.is_object(), "{}: __metadata__ '{}' must hold a JSON object", path, kMetaKey);
  }
  std::set<std::string> used;
  for (const auto& item : entries.items()) {
    // (named copies, not structured bindings: the lambda below captures
    // `layer`, which clang before 16 refuses for a binding)
    const std::string layer = item.key();
    const json& entry = item.value();
    BertSveLayer L;
    try {
      L.state = sve_from_json(entry);
    } catch (const json::exception& e) {
      DEFTNN_FAIL("{}: layer '{}': SVE entry is malformed: {}", path, layer, e.what());
    }
    // Bounded before check_sve sizes a table of original_k entries; 2^24 is
    // config.json's largest size (bert.cpp kMaxSize), far above any BERT's.
    DEFTNN_CHECK(L.state.original_k >= 1 && L.state.original_k <= (int64_t(1) << 24),
                 "{}: layer '{}': original_k {} (must be in [1, 2^24])", path, layer, L.state.original_k);
    try {
      check_sve(L.state, L.state.original_k, layer);
    } catch (const Error& e) {
      DEFTNN_FAIL("{}: {}", path, e.message());
    }
    const int64_t kp = int64_t(L.state.kept.size());
    auto tensor = [&](const char* param) -> Tensor {
      const std::string name = layer + "." + param;
      auto t = tf.tensors.find(name);
      DEFTNN_CHECK(t != tf.tensors.end(), "{}: layer '{}': no tensor '{}'", path, layer, name);
      DEFTNN_CHECK(t->second.dtype() == DType::F32, "{}: layer '{}': tensor '{}' is {}, expected F32", path, layer,
                   name, dtype_name(t->second.dtype()));
      used.insert(name);
      return t->second;
    };
    L.weight = tensor("weight");
    L.bias = tensor("bias");
    DEFTNN_CHECK(L.weight.shape().size() == 2 && L.weight.dim(1) == kp,
                 "{}: layer '{}': weight has shape {}, expected (out, {}) for the {} kept columns", path, layer,
                 shape_str(L.weight.shape()), kp, kp);
    DEFTNN_CHECK(L.bias.shape() == (Shape{L.weight.dim(0)}), "{}: layer '{}': bias has shape {}, expected ({})", path,
                 layer, shape_str(L.bias.shape()), L.weight.dim(0));
    out.layers.emplace(layer, std::move(L));
  }
  for (const auto& [name, t] : tf.tensors)
    DEFTNN_CHECK(used.count(name), "{}: tensor '{}' belongs to no layer of __metadata__ '{}'", path, name, kSveKey);
  return out;
}

void write_bert_sve(const std::string& path, const BertSve& s) {
  TensorFile tf;
  json entries = json::object();
  for (const auto& [layer, L] : s.layers) {
    entries[layer] = sve_to_json(L.state);
    tf.tensors[layer + ".weight"] = L.weight;
    tf.tensors[layer + ".bias"] = L.bias;
  }
  tf.metadata[kFormatKey] = kFormat;
  tf.metadata[kSveKey] = entries.dump();
  tf.metadata[kMetaKey] = s.meta.dump();
  write_safetensors(path, tf);
}

BertSve clone_bert_sve(const BertSve& s) {
  BertSve c = s;
  auto cpu = Context::cpu();
  for (auto& [layer, L] : c.layers) {
    L.weight = L.weight.to(Device::CPU, *cpu);  // same device: a deep copy
    L.bias = L.bias.to(Device::CPU, *cpu);
  }
  return c;
}

}  // namespace deftnn::bert
