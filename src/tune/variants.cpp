#include "tune/variants.h"

#include <algorithm>
#include <fmt/format.h>
#include <numeric>
#include <tuple>

#include "core/error.h"
#include "layers/gemm_layer.h"
#include "layers/im2col.h"
#include "core/timing.h"
#include "train/distill.h"
#include "train/trainer.h"

namespace deftnn::tune {

namespace {

Param* param_named(Layer& layer, const std::string& name) {
  for (Param* p : layer.params())
    if (p->name == name) return p;
  return nullptr;
}

deftnn::GemmLayer& gemm_of(Layer& layer) {
  deftnn::GemmLayer* g = layer.as_gemm();
  DEFTNN_CHECK(g, "layer '{}' ({}) is not a GEMM layer", layer.name(), layer.type());
  return *g;
}

// The value of `tensor` for the graph input x (N, C, H, W): the layers it
// depends on run in topological order, each as forward(train = false) runs
// it (unfused); a chain runs every layer before the one reading `tensor`.
// Buffers are released after their last reader, as a chain would.
Tensor tensor_value(Net& net, Context& ctx, const Tensor& x, size_t tensor) {
  const Graph& g = net.topology();
  DEFTNN_CHECK(g.inputs.size() == 1, "{}: input statistics feed one input, the graph has {}", net.source(),
               g.inputs.size());
  std::vector<bool> runs(g.nodes.size(), false), needed(g.tensors.size(), false);
  needed[tensor] = true;
  for (size_t i = g.nodes.size(); i-- > 0;) {
    for (size_t t : g.nodes[i].outputs) runs[i] = runs[i] || needed[t];
    if (runs[i])
      for (size_t t : g.nodes[i].inputs) needed[t] = true;
  }
  std::vector<int> readers(g.tensors.size(), 0);  // readers still to run
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (runs[i])
      for (size_t t : g.nodes[i].inputs) ++readers[t];
  std::vector<Tensor> value(g.tensors.size());
  value[g.inputs[0]] = x;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!runs[i]) continue;
    std::vector<const Tensor*> in;
    for (size_t t : g.nodes[i].inputs) in.push_back(&value[t]);
    std::vector<Tensor*> out;
    for (size_t t : g.nodes[i].outputs) {
      value[t] = Tensor::empty(net.tensor_shape(g.tensors[t].name, x.dim(0)), DType::F32, ctx.device());
      out.push_back(&value[t]);
    }
    net.layer(i).forward_multi(ctx, in, out, false);
    for (size_t t : g.nodes[i].inputs)
      if (--readers[t] == 0 && t != tensor) value[t] = Tensor();
  }
  return value[tensor];
}

}  // namespace

std::vector<GemmLayer> gemm_layers(Net& net) {
  std::vector<GemmLayer> v;
  for (size_t i = 0; i < net.size(); ++i) {
    Layer& layer = net.layer(i);
    if (!layer.has_gemm()) continue;
    GemmLayer g;
    g.index = i;
    g.name = layer.name();
    g.type = layer.type();
    Shape in = net.input_shape_of(i, 1);
    GemmShape s = layer.gemm_shape(in);
    g.groups = s.groups;
    g.M = s.M * s.groups;
    g.K = gemm_of(layer).full_k();
    g.flops = 2 * g.M * g.K * s.N;
    v.push_back(g);
  }
  return v;
}

LayerSetting capture(Net& net, const GemmLayer& l, Context& ctx) {
  Layer& layer = net.layer(l.index);
  LayerSetting s;
  s.state = gemm_of(layer).sve();
  s.state.kept_device = Tensor();
  s.state.swaps_device = Tensor();
  Param* w = param_named(layer, "weight");
  Param* b = param_named(layer, "bias");
  DEFTNN_CHECK(w, "layer '{}' has no weight", l.name);
  s.weight = w->value.to(Device::CPU, ctx);
  if (b) s.bias = b->value.to(Device::CPU, ctx);
  return s;
}

void install(Net& net, const GemmLayer& l, const LayerSetting& s, Context& ctx) {
  Layer& layer = net.layer(l.index);
  Tensor w = s.weight.to(ctx.device(), ctx);
  gemm_of(layer).set_sve(s.state, w);  // an inactive state: the dense weight
  if (s.bias.defined()) param_named(layer, "bias")->value = s.bias.to(ctx.device(), ctx);
  layer.on_device_change(ctx);
}

nlohmann::json Variant::to_json() const {
  nlohmann::json j = {{"id", id},
                      {"layer", id.substr(0, id.find('/'))},
                      {"method", sve::method_name(method)},
                      {"val_acc_before_finetune", val_acc_before},
                      {"val_acc", val_acc},
                      {"time_ms", time_ms},
                      {"dense_time_ms", dense_time_ms},
                      {"finetune_s", finetune_s}};
  if (method != sve::Method::Dense) {
    j["kept"] = kept();
    j["k"] = plan.original_k;
    j["density"] = plan.density();
    j["plan"] = plan.to_json();
    j["group"] = setting.state.group;  // 1: taps; > 1: whole channels of that many synapse vectors
  }
  if (method == sve::Method::Sve) {
    j["alpha"] = alpha;
    j["search"] = search.to_json();
  }
  return j;
}

sve::InputStats layer_input_stats(Net& net, Context& ctx, const GemmLayer& l, const data::Dataset& ds, int64_t images) {
  DEFTNN_CHECK(ds.images.dtype() == DType::F32, "{}: input statistics want F32 images", ds.name);
  images = std::min<int64_t>(images, ds.size());
  DEFTNN_CHECK(images > 0, "{}: no images for the input statistics of layer '{}'", ds.name, l.name);
  auto cpu = Context::make(Device::CPU);
  sve::InputStats st(l.K);
  Layer& layer = net.layer(l.index);
  const bool conv = gemm_of(layer).kind() == LayerKind::Conv;
  const int64_t chunk = 128;
  for (int64_t b = 0; b < images; b += chunk) {
    const int64_t n = std::min(chunk, images - b);
    const Tensor images = ds.images.slice0(b, b + n).to(ctx.device(), ctx);
    Tensor x = tensor_value(net, ctx, images, net.topology().nodes[l.index].inputs[0]).to(Device::CPU, ctx);
    ctx.synchronize();
    if (conv) {
      nlohmann::json cfg = layer.config();
      auto pair = [&](const char* key) {
        const nlohmann::json& v = cfg.at(key);
        return v.is_array() ? std::pair<int64_t, int64_t>{v.at(0).get<int64_t>(), v.at(1).get<int64_t>()}
                            : std::pair<int64_t, int64_t>{v.get<int64_t>(), v.get<int64_t>()};
      };
      ConvGeom g;
      g.C = x.dim(1) / l.groups, g.H = x.dim(2), g.W = x.dim(3);
      std::tie(g.kh, g.kw) = pair("kernel");
      std::tie(g.sh, g.sw) = pair("stride");
      std::tie(g.ph, g.pw) = pair("pad");
      DEFTNN_CHECK(g.K() == l.K, "layer '{}': im2col K {} != {}", l.name, g.K(), l.K);
      const int64_t cols = n * g.Ho() * g.Wo();
      Tensor col = Tensor::empty({g.K(), cols});
      const int64_t image_stride = x.dim(1) * g.H * g.W;
      for (int64_t grp = 0; grp < l.groups; ++grp) {
        im2col(*cpu, x.data<float>() + grp * g.C * g.H * g.W, g, n, image_stride, col.data<float>(), cols);
        st.add_columns(*cpu, col.data<float>(), cols, cols);
      }
    } else {
      const int64_t K = x.numel() / n;
      DEFTNN_CHECK(K == l.K, "layer '{}': input has {} features, expected {}", l.name, K, l.K);
      Tensor xt = Tensor::empty({K, n});  // (K, n): one column per image
      const float* src = x.data<float>();
      float* dst = xt.data<float>();
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < K; ++k) dst[k * n + i] = src[i * K + k];
      st.add_columns(*cpu, dst, n, n);
    }
  }
  return st;
}

Variant make_variant(Net& net, Context& ctx, const VariantRequest& req, const data::Dataset& train,
                     const data::Dataset& val, const FinetuneOptions& ft) {
  const GemmLayer& l = req.layer;
  const LayerSetting& dense = req.dense;
  const sve::Method method = req.method;
  DEFTNN_CHECK(method != sve::Method::Dense, "layer '{}': a variant needs an SVE method (sve, sve-ls, l1)", l.name);
  Variant v;
  v.layer = req.slot;
  v.method = method;
  v.search = req.search;
  v.alpha = req.search.alpha;
  const bool ls = method == sve::Method::SveLs;
  v.plan = sve::make_plan(l.K, req.search.kept, /*scale=*/!ls);
  const char* name = sve::method_name(method);
  v.id = method == sve::Method::Sve || ls ? fmt::format("{}/{}@{:.4f}", l.name, name, req.search.alpha)
                                          : fmt::format("{}/{}@{}", l.name, name, v.plan.kept_k());
  LayerSetting s;
  s.state = sve::make_state(v.plan, req.transform);
  s.state.group = req.group;
  s.bias = dense.bias;
  if (ls) {
    // Least-squares reconstruction from the layer's input statistics, with
    // the bias correction folded in.
    DEFTNN_CHECK(req.stats, "variant {}: sve-ls needs input statistics", v.id);
    sve::Reconstruction rec = sve::reconstruct_weight(v.plan, dense.weight.reshape({l.M, l.K}), *req.stats, req.ridge);
    s.weight = rec.weight;
    if (dense.bias.defined()) {
      s.bias = Tensor::empty(dense.bias.shape());
      const float* b0 = dense.bias.data<float>();
      float* b1 = s.bias.data<float>();
      for (int64_t m = 0; m < l.M; ++m) b1[m] = b0[m] + rec.bias_delta[size_t(m)];
    }
  } else {
    // The paper: truncated weight scaled by K / K'; bias unchanged.
    s.weight = sve::apply_to_weight(v.plan, dense.weight.reshape({l.M, l.K}));
  }
  install(net, l, s, ctx);
  v.val_acc_before = train::evaluate(net, ctx, val).accuracy;
  // Fine-tune this layer alone: every other parameter frozen.
  const Stopwatch clock;
  std::vector<std::pair<Param*, bool>> saved;
  for (size_t i = 0; i < net.size(); ++i)
    for (Param* p : net.layer(i).params()) {
      saved.emplace_back(p, p->trainable);
      if (i != l.index) p->trainable = false;
    }
  finetune(net, ctx, train, ft, (uint64_t(l.index) * 0x9E3779B97F4A7C15ull) ^ uint64_t(v.plan.kept_k()));
  for (auto [p, t] : saved) p->trainable = t;
  v.finetune_s = clock.seconds();
  v.val_acc = train::evaluate(net, ctx, val).accuracy;
  v.setting = capture(net, l, ctx);
  install(net, l, dense, ctx);
  return v;
}

}  // namespace deftnn::tune
