#include "tune/variants.h"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <numeric>
#include <tuple>

#include "core/error.h"
#include "layers/gemm_layer.h"
#include "layers/im2col.h"
#include "train/distill.h"

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
                      {"method", method},
                      {"val_acc_before_finetune", val_acc_before},
                      {"val_acc", val_acc},
                      {"time_ms", time_ms},
                      {"dense_time_ms", dense_time_ms},
                      {"finetune_s", finetune_s}};
  if (method != "dense") {
    j["kept"] = kept();
    j["k"] = plan.original_k;
    j["density"] = plan.density();
    j["plan"] = plan.to_json();
  }
  if (method == "sve") {
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
    Tensor cur = ds.images.slice0(b, b + n).to(ctx.device(), ctx);
    for (size_t i = 0; i < l.index; ++i) {
      Tensor y = Tensor::empty(net.output_shape(i, n), DType::F32, ctx.device());
      net.layer(i).forward(ctx, cur, y, false);
      cur = y;
    }
    Tensor x = cur.to(Device::CPU, ctx);
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

double finetune(Net& net, Context& ctx, const data::Dataset& train, const FinetuneOptions& ft, uint64_t salt) {
  auto t0 = std::chrono::steady_clock::now();
  if (ft.iterations <= 0) return 0;
  // ft.iterations batches of images drawn with replacement: epochs of at
  // most the training split's size, so that the drawn subset is never larger
  // than the split itself.
  const int64_t epochs = (ft.iterations * ft.batch + train.size() - 1) / train.size();
  const int64_t per_epoch = (ft.iterations + epochs - 1) / epochs;  // iterations per epoch
  std::vector<int64_t> idx(size_t(per_epoch * ft.batch));
  Rng rng(ft.seed ^ salt);
  for (auto& i : idx) i = int64_t(rng.below(uint64_t(train.size())));
  std::sort(idx.begin(), idx.end());
  data::Dataset part = data::subset(train, idx, train.name + "/finetune");
  train::TrainConfig cfg;
  cfg.epochs = epochs;
  cfg.batch = ft.batch;
  DEFTNN_CHECK(ft.lr_policy == "fixed" || ft.lr_policy == "linear",
               "fine-tuning: unknown learning-rate policy '{}' (known: fixed, linear)", ft.lr_policy);
  cfg.lr.policy = ft.lr_policy == "linear" ? "poly" : "fixed";
  cfg.lr.power = 1;
  cfg.lr.max_iter = epochs * per_epoch;
  cfg.lr.base_lr = ft.lr;
  if (ft.distilled()) {
    DEFTNN_CHECK(ft.teacher_logits.defined() && ft.teacher_logits.dim(0) == train.size(),
                 "fine-tuning with distillation: teacher logits {} for the {} images of {}",
                 ft.teacher_logits.defined() ? shape_str(ft.teacher_logits.shape()) : "undefined", train.size(),
                 train.name);
    cfg.distill.teacher_logits = train::gather_rows(ft.teacher_logits, idx);
    cfg.distill.temperature = ft.distill_temperature;
    cfg.distill.weight = ft.distill_weight;
  }
  cfg.momentum = ft.momentum;
  cfg.weight_decay = ft.weight_decay;
  cfg.seed = ft.seed;
  cfg.keep_best = false;
  cfg.progress = false;
  train::Trainer trainer(net, ctx, cfg);
  trainer.fit(part, nullptr);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<double> forward_times(Net& net, Context& ctx, const Tensor& x, int reps, int warmup) {
  using Clock = std::chrono::steady_clock;
  DEFTNN_CHECK(reps > 0, "{}: {} timed passes", net.name(), reps);
  for (int i = 0; i < warmup; ++i) net.forward(ctx, x, false);
  ctx.synchronize();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto a = Clock::now();
    net.forward(ctx, x, false);
    ctx.synchronize();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
  }
  return t;
}

double summarize_times(const Context& ctx, std::vector<double> t) {
  DEFTNN_CHECK(!t.empty(), "no pass times to summarise");
  std::sort(t.begin(), t.end());
  // CPU: the fastest pass (other processes only ever add time, and this
  // 2-core machine is shared); GPU: the median.
  return ctx.is_cuda() ? t[t.size() / 2] : t.front();
}

double forward_ms(Net& net, Context& ctx, const Tensor& x, int reps) {
  return summarize_times(ctx, forward_times(net, ctx, x, reps, 2));
}

Variant make_variant(Net& net, Context& ctx, const GemmLayer& l, size_t layer_slot, const LayerSetting& dense,
                     const std::string& method, const sve::SearchResult& search, const std::vector<int32_t>& kept,
                     SveTransform transform, const data::Dataset& train, const data::Dataset& val,
                     const FinetuneOptions& ft, const sve::InputStats* stats, double ridge) {
  Variant v;
  v.layer = layer_slot;
  v.method = method;
  v.search = search;
  v.alpha = search.alpha;
  const bool ls = method == "sve-ls";
  v.plan = sve::make_plan(l.K, kept, /*scale=*/!ls);
  v.id = method == "sve" || ls ? fmt::format("{}/{}@{:.4f}", l.name, method, search.alpha)
                               : fmt::format("{}/{}@{}", l.name, method, v.plan.kept_k());
  LayerSetting s;
  s.state = sve::make_state(v.plan, transform);
  s.bias = dense.bias;
  if (ls) {
    // Least-squares reconstruction from the layer's input statistics, with
    // the bias correction folded in.
    DEFTNN_CHECK(stats, "variant {}: sve-ls needs input statistics", v.id);
    sve::Reconstruction rec = sve::reconstruct_weight(v.plan, dense.weight.reshape({l.M, l.K}), *stats, ridge);
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
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::pair<Param*, bool>> saved;
  for (size_t i = 0; i < net.size(); ++i)
    for (Param* p : net.layer(i).params()) {
      saved.emplace_back(p, p->trainable);
      if (i != l.index) p->trainable = false;
    }
  finetune(net, ctx, train, ft, (uint64_t(l.index) * 0x9E3779B97F4A7C15ull) ^ uint64_t(v.plan.kept_k()));
  for (auto [p, t] : saved) p->trainable = t;
  v.finetune_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  v.val_acc = train::evaluate(net, ctx, val).accuracy;
  v.setting = capture(net, l, ctx);
  install(net, l, dense, ctx);
  return v;
}

}  // namespace deftnn::tune
