#include "net/bert.h"

#include <algorithm>
#include <filesystem>
#include <numeric>

#include <cmath>
#include <set>

#include "core/input_file.h"
#include "net/safetensors.h"
#include "plan/apply.h"
#include "synapse/sve_apply.h"

namespace deftnn::bert {

using json = nlohmann::json;

namespace {

std::string join_path(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

json read_json_file(const std::string& path) { return parse_json(read_text_file(path), path); }

int64_t int_key(const json& j, const std::string& path, const char* key, int64_t lo, int64_t hi) {
  DEFTNN_CHECK(j.contains(key), "{}: no '{}' key", path, key);
  const json& v = j[key];
  DEFTNN_CHECK(v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi,
               "{}: '{}' must be an integer in [{}, {}], got {}", path, key, lo, hi, json_excerpt(v));
  return v.get<int64_t>();
}

// The largest size config.json may give: far above BERT-large (hidden 1024,
// 30522 words), low enough that products of two stay far from int64's end.
constexpr int64_t kMaxSize = int64_t(1) << 24;
constexpr int64_t kSeqAlign = 8;  // batches pad T to a multiple of this

constexpr const char* kTransformer = "sentence_transformers.models.Transformer";
constexpr const char* kPooling = "sentence_transformers.models.Pooling";
constexpr const char* kNormalize = "sentence_transformers.models.Normalize";

}  // namespace

BertConfig read_config(const std::string& dir) {
  const std::string path = join_path(dir, "config.json");
  const json j = read_json_file(path);
  DEFTNN_CHECK(j.is_object(), "{}: must hold a JSON object, got {}", path, j.type_name());
  auto str_key = [&](const char* key, const char* def) {
    if (!j.contains(key)) return std::string(def);
    DEFTNN_CHECK(j[key].is_string(), "{}: '{}' must be a string, got {}", path, key, json_excerpt(j[key]));
    return j[key].get<std::string>();
  };
  const std::string type = str_key("model_type", "bert");
  DEFTNN_CHECK(type == "bert", "{}: model_type '{}' is not supported (only 'bert')", path, type);
  const std::string act = str_key("hidden_act", "gelu");
  DEFTNN_CHECK(act == "gelu", "{}: hidden_act '{}' is not supported (only 'gelu', the exact erf GELU)", path, act);
  const std::string pos = str_key("position_embedding_type", "absolute");
  DEFTNN_CHECK(pos == "absolute", "{}: position_embedding_type '{}' is not supported (only 'absolute')", path, pos);
  BertConfig c;
  c.hidden = int_key(j, path, "hidden_size", 1, kMaxSize);
  c.heads = int_key(j, path, "num_attention_heads", 1, c.hidden);
  c.layers = int_key(j, path, "num_hidden_layers", 1, 1024);
  c.intermediate = int_key(j, path, "intermediate_size", 1, kMaxSize);
  c.vocab = int_key(j, path, "vocab_size", 1, kMaxSize);
  c.max_positions = int_key(j, path, "max_position_embeddings", 1, kMaxSize);
  c.type_vocab = j.contains("type_vocab_size") ? int_key(j, path, "type_vocab_size", 1, kMaxSize) : 2;
  DEFTNN_CHECK(c.hidden % c.heads == 0, "{}: hidden_size {} is not a multiple of num_attention_heads {}", path,
               c.hidden, c.heads);
  if (j.contains("layer_norm_eps")) {
    const json& e = j["layer_norm_eps"];
    DEFTNN_CHECK(e.is_number() && e.get<double>() > 0 && e.get<double>() < 1,
                 "{}: 'layer_norm_eps' must be a number in (0, 1), got {}", path, json_excerpt(e));
    c.layer_norm_eps = e.get<double>();
  }
  return c;
}

void check_modules(const std::string& dir) {
  const std::string path = join_path(dir, "modules.json");
  const json j = read_json_file(path);
  DEFTNN_CHECK(j.is_array(), "{}: must hold a JSON array of modules, got {}", path, j.type_name());
  std::vector<std::string> types;
  std::string pooling_dir;
  for (const json& m : j) {
    DEFTNN_CHECK(m.is_object() && m.contains("type") && m["type"].is_string(),
                 "{}: every module must be an object with a string 'type', got {}", path, json_excerpt(m));
    types.push_back(m["type"].get<std::string>());
    if (types.back() == kPooling)
      pooling_dir = m.contains("path") && m["path"].is_string() ? m["path"].get<std::string>() : "";
  }
  const std::vector<std::string> want = {kTransformer, kPooling, kNormalize};
  std::string got;
  for (const auto& t : types) got += (got.empty() ? "" : ", ") + t;
  DEFTNN_CHECK(types == want, "{}: modules are [{}]; supported is exactly [{}, {}, {}] (mean pooling, then "
               "normalisation)", path, got, kTransformer, kPooling, kNormalize);
  const std::string pool_path = join_path(join_path(dir, pooling_dir), "config.json");
  const json p = read_json_file(pool_path);
  DEFTNN_CHECK(p.is_object(), "{}: must hold a JSON object, got {}", pool_path, p.type_name());
  for (const auto& [key, v] : p.items()) {
    if (key.rfind("pooling_mode_", 0) != 0) continue;
    DEFTNN_CHECK(v.is_boolean(), "{}: '{}' must be true or false, got {}", pool_path, key, json_excerpt(v));
    const bool want_on = key == "pooling_mode_mean_tokens";
    DEFTNN_CHECK(v.get<bool>() == want_on, "{}: '{}' is {}; supported is mean pooling only "
                 "(pooling_mode_mean_tokens true, every other mode false)", pool_path, key, v.get<bool>());
  }
  DEFTNN_CHECK(p.contains("pooling_mode_mean_tokens"), "{}: no 'pooling_mode_mean_tokens' key", pool_path);
}

json bert_graph(const BertConfig& c, int64_t t, const BertSve* sve) {
  DEFTNN_CHECK(t >= 1 && t <= c.max_positions, "bert_graph: {} tokens, the model has {} positions", t,
               c.max_positions);
  json layers = json::array();
  auto add = [&](json l) { layers.push_back(std::move(l)); };
  auto linear = [&](const std::string& name, int64_t out, const std::string& in) {
    json l = {{"type", "linear"}, {"name", name}, {"out", out}, {"inputs", {in}}};
    if (sve)
      if (auto it = sve->layers.find(name); it != sve->layers.end()) l["sve"] = sve_to_json(it->second.state);
    add(std::move(l));
  };
  add({{"type", "embedding"}, {"name", "embeddings"}, {"vocab", c.vocab}, {"hidden", c.hidden},
       {"positions", c.max_positions}, {"token_types", c.type_vocab}, {"inputs", {"ids"}}});
  add({{"type", "layernorm"}, {"name", "embeddings/LayerNorm"}, {"eps", c.layer_norm_eps}});
  std::string x = "embeddings/LayerNorm";
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "encoder/layer/" + std::to_string(l) + "/";
    for (const char* w : {"query", "key", "value"}) linear(p + "attention/self/" + w, c.hidden, x);
    add({{"type", "attention"}, {"name", p + "attention/self"}, {"heads", c.heads},
         {"inputs", {p + "attention/self/query", p + "attention/self/key", p + "attention/self/value", "mask"}}});
    linear(p + "attention/output/dense", c.hidden, p + "attention/self");
    add({{"type", "add"}, {"name", p + "attention/output/residual"}, {"inputs", {p + "attention/output/dense", x}}});
    add({{"type", "layernorm"}, {"name", p + "attention/output/LayerNorm"}, {"eps", c.layer_norm_eps}});
    linear(p + "intermediate/dense", c.intermediate, p + "attention/output/LayerNorm");
    add({{"type", "gelu"}, {"name", p + "intermediate/gelu"}});
    linear(p + "output/dense", c.hidden, p + "intermediate/gelu");
    add({{"type", "add"}, {"name", p + "output/residual"}, {"inputs", {p + "output/dense", p + "attention/output/LayerNorm"}}});
    add({{"type", "layernorm"}, {"name", p + "output/LayerNorm"}, {"eps", c.layer_norm_eps}});
    x = p + "output/LayerNorm";
  }
  add({{"type", "meanpool"}, {"name", "pooling"}, {"inputs", {x, "mask"}}});
  add({{"type", "l2norm"}, {"name", "normalize"}, {"eps", 1e-12}});
  return {{"name", "bert"},
          {"notes", "a BERT encoder with mean pooling and L2 normalisation (sentence-transformers), built by "
                    "src/net/bert.cpp"},
          {"inputs", {{{"name", "ids"}, {"shape", {t}}}, {{"name", "mask"}, {"shape", {t}}}}},
          {"outputs", {"normalize"}},
          {"layers", layers}};
}

std::string hf_tensor_name(const std::string& layer, const std::string& param) {
  if (layer == "embeddings") return "embeddings." + param + "_embeddings.weight";
  std::string n = layer;
  std::replace(n.begin(), n.end(), '/', '.');
  return n + "." + param;
}

BertEncoder BertEncoder::load(const std::string& dir) {
  DEFTNN_CHECK(std::filesystem::is_directory(dir), "{}: not a model folder (no such directory)", dir);
  BertConfig c = read_config(dir);
  check_modules(dir);
  const std::string path = join_path(dir, "model.safetensors");
  TensorFile tf = read_safetensors(path);
  return from_tensors(c, std::move(tf.tensors), path);
}

BertEncoder BertEncoder::from_tensors(const BertConfig& c, std::map<std::string, Tensor> tensors,
                                      const std::string& source) {
  BertEncoder e;
  e.config_ = c;
  e.source_ = source;
  // The parameters' shapes as the layers size them (one token is enough).
  Net shapes = Net::from_graph(bert_graph(c, 1), source);
  for (size_t i = 0; i < shapes.size(); ++i)
    for (Param* p : shapes.layer(i).params()) {
      const std::string name = hf_tensor_name(shapes.layer(i).name(), p->name);
      auto t = tensors.find(name);
      DEFTNN_CHECK(t != tensors.end(), "{}: missing tensor '{}' (expected shape {})", source, name,
                   shape_str(p->value.shape()));
      DEFTNN_CHECK(t->second.shape() == p->value.shape(), "{}: tensor '{}' has shape {}, expected {}", source, name,
                   shape_str(t->second.shape()), shape_str(p->value.shape()));
      DEFTNN_CHECK(t->second.dtype() == DType::F32, "{}: tensor '{}' is {}, expected F32", source, name,
                   dtype_name(t->second.dtype()));
      e.weights_[name] = std::move(t->second);
    }
  return e;
}

const Tensor& BertEncoder::tensor(const std::string& hf_name) const {
  auto it = weights_.find(hf_name);
  DEFTNN_CHECK(it != weights_.end(), "{}: no tensor '{}'", source_, hf_name);
  return it->second;
}

void BertEncoder::set_sve(BertSve s) {
  const auto names = bert_linear_layers(config_);
  const std::set<std::string> linears(names.begin(), names.end());
  for (const auto& [layer, L] : s.layers) {
    DEFTNN_CHECK(linears.count(layer), "{}: layer '{}' is not a linear layer of the model {} (its {} linear layers "
                 "are {} ... {})", s.source, layer, source_, names.size(), names.front(), names.back());
    const Shape& w = weights_.at(hf_tensor_name(layer, "weight")).shape();  // (out, K)
    DEFTNN_CHECK(L.state.original_k == w[1], "{}: layer '{}': SVE state is for {} input features, the model's layer "
                 "has {} (weight {} in {})", s.source, layer, L.state.original_k, w[1], shape_str(w), source_);
    try {
      check_sve(L.state, w[1], layer);
    } catch (const Error& e) {
      DEFTNN_FAIL("{}: {}", s.source, e.message());
    }
    const Shape want{w[0], int64_t(L.state.kept.size())};
    DEFTNN_CHECK(L.weight.shape() == want && L.weight.dtype() == DType::F32 && !L.weight.is_cuda(),
                 "{}: layer '{}': truncated weight is {} {}, expected F32 {} (out features, kept columns) on the CPU",
                 s.source, layer, dtype_name(L.weight.dtype()), shape_str(L.weight.shape()), shape_str(want));
    DEFTNN_CHECK(L.bias.shape() == (Shape{w[0]}) && L.bias.dtype() == DType::F32 && !L.bias.is_cuda(),
                 "{}: layer '{}': bias is {} {}, expected F32 ({}) on the CPU", s.source, layer,
                 dtype_name(L.bias.dtype()), shape_str(L.bias.shape()), w[0]);
  }
  sve_ = std::move(s);
  device_sve_.clear();  // uploaded again by the next net on the GPU
}

void BertEncoder::sve_weights_changed(Context& ctx) {
  if (!ctx.is_cuda()) return;
  for (const auto& [layer, L] : sve_.layers)
    for (const char* param : {"weight", "bias"}) {
      auto d = device_sve_.find(hf_tensor_name(layer, param));
      if (d != device_sve_.end()) d->second.copy_from(param[0] == 'w' ? L.weight : L.bias, ctx);
    }
}

Net BertEncoder::make_net(Context& ctx, int64_t t) {
  Net net = Net::from_graph(bert_graph(config_, t, &sve_), source_);
  for (size_t i = 0; i < net.size(); ++i)
    for (Param* p : net.layer(i).params()) {
      const std::string name = hf_tensor_name(net.layer(i).name(), p->name);
      // An eliminated layer's weight (out, K') and bias come from the SVE state.
      auto e = sve_.layers.find(net.layer(i).name());
      const bool eliminated = e != sve_.layers.end();
      const Tensor& w = !eliminated ? weights_.at(name) : p->name == "weight" ? e->second.weight : e->second.bias;
      DEFTNN_CHECK(w.shape() == p->value.shape(), "{}: tensor '{}' is {}, the layer needs {}", source_, name,
                   shape_str(w.shape()), shape_str(p->value.shape()));
      if (ctx.is_cuda()) {
        auto& cache = eliminated ? device_sve_ : device_weights_;
        auto d = cache.find(name);
        if (d == cache.end()) d = cache.emplace(name, w.to(Device::CUDA, ctx)).first;
        p->value = d->second;
      } else {
        p->value = w;
      }
      p->grad = Tensor();  // inference only
    }
  plan::apply_plan(net, plan_, ctx.device());
  net.to(ctx);
  for (size_t i = 0; i < net.size(); ++i) net.layer(i).on_params_changed();
  return net;
}

Tensor BertEncoder::embed_ids(Context& ctx, const std::vector<std::vector<int32_t>>& ids, const EmbedOptions& o) {
  DEFTNN_CHECK(o.batch >= 1, "embed_ids: batch {} (must be at least 1)", o.batch);
  const int64_t count = int64_t(ids.size()), h = config_.hidden;
  for (int64_t s = 0; s < count; ++s) {
    const auto& v = ids[size_t(s)];
    DEFTNN_CHECK(!v.empty() && int64_t(v.size()) <= config_.max_positions,
                 "embed_ids: sequence {} has {} ids (1 to {} allowed)", s, v.size(), config_.max_positions);
    for (size_t k = 0; k < v.size(); ++k)
      DEFTNN_CHECK(v[k] >= 0 && v[k] < config_.vocab, "embed_ids: sequence {} token {}: id {} outside [0, {})", s,
                   k, v[k], config_.vocab);
  }
  Tensor out = Tensor::empty({count, h});
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return ids[size_t(a)].size() < ids[size_t(b)].size(); });
  std::unique_ptr<Net> net;
  int64_t net_t = 0;
  for (int64_t begin = 0; begin < count; begin += o.batch) {
    const int64_t n = std::min(o.batch, count - begin);
    const int64_t longest = int64_t(ids[size_t(order[size_t(begin + n - 1)])].size());
    const int64_t t = std::min((longest + kSeqAlign - 1) / kSeqAlign * kSeqAlign, config_.max_positions);
    if (!net || net_t != t) {
      net.reset();  // its activations go before the next net's come
      net = std::make_unique<Net>(make_net(ctx, t));
      net_t = t;
    }
    Tensor tok = Tensor::zeros({n, t}, *Context::cpu()), mask = Tensor::zeros({n, t}, *Context::cpu());
    for (int64_t r = 0; r < n; ++r) {
      const auto& v = ids[size_t(order[size_t(begin + r)])];
      for (size_t k = 0; k < v.size(); ++k) {
        tok.data<float>()[r * t + int64_t(k)] = float(v[k]);
        mask.data<float>()[r * t + int64_t(k)] = 1.f;
      }
    }
    std::vector<Tensor> in = {tok, mask};
    if (ctx.is_cuda()) in = {tok.to(Device::CUDA, ctx), mask.to(Device::CUDA, ctx)};
    const Tensor y = net->forward(ctx, in, false)[0];
    const std::vector<float> rows = y.to_vector(ctx);
    for (int64_t r = 0; r < n; ++r)
      std::copy_n(rows.begin() + r * h, h, out.data<float>() + order[size_t(begin + r)] * h);
    if (o.progress) o.progress(begin + n, count);
  }
  return out;
}

int64_t sve_kept_count(int64_t k, double density) {
  DEFTNN_CHECK(density > 0 && density <= 1, "SVE density {} (must be in (0, 1])", density);
  constexpr int64_t kAlign = 8;
  const int64_t n = int64_t(std::ceil(density * double(k) - 1e-9));
  return std::min(k, std::max(kAlign, (n + kAlign - 1) / kAlign * kAlign));
}

BertSve spread_sve(const BertEncoder& e, double density) {
  BertSve s;
  s.source = DEFTNN_FORMAT("spread SVE at density {}", density);
  s.meta = {{"method", "spread"}, {"density", density}};
  auto cpu = Context::cpu();
  for (const std::string& layer : bert_linear_layers(e.config())) {
    const Tensor& w = e.tensor(hf_tensor_name(layer, "weight"));  // (out, K)
    const int64_t out = w.dim(0), k = w.dim(1), kp = sve_kept_count(k, density);
    BertSveLayer L;
    L.state.original_k = k;
    for (int64_t i = 0; i < kp; ++i) L.state.kept.push_back(int32_t(i * k / kp));  // strictly increasing: kp <= k
    L.weight = Tensor::empty({out, kp});
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < kp; ++i)
        L.weight.data<float>()[o * kp + i] = w.data<float>()[o * k + L.state.kept[size_t(i)]];
    L.bias = e.tensor(hf_tensor_name(layer, "bias"));
    s.layers.emplace(layer, std::move(L));
  }
  return s;
}

}  // namespace deftnn::bert
