#include "tune/variants.h"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <numeric>

#include "core/error.h"
#include "layers/conv.h"
#include "layers/linear.h"

namespace deftnn::tune {

namespace {

Param* param_named(Layer& layer, const std::string& name) {
  for (Param* p : layer.params())
    if (p->name == name) return p;
  return nullptr;
}

SveState& sve_of(Layer& layer) {
  if (auto* c = dynamic_cast<Conv2d*>(&layer)) return c->sve;
  if (auto* f = dynamic_cast<Linear*>(&layer)) return f->sve;
  DEFTNN_FAIL("layer '{}' ({}) is not a GEMM layer", layer.name(), layer.type());
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
    if (auto* c = dynamic_cast<Conv2d*>(&layer)) g.K = c->full_k();
    else if (auto* f = dynamic_cast<Linear*>(&layer)) g.K = f->in_features();
    else DEFTNN_FAIL("layer '{}' has a GEMM but is neither conv nor linear", layer.name());
    g.flops = 2 * g.M * g.K * s.N;
    v.push_back(g);
  }
  return v;
}

LayerSetting capture(Net& net, const GemmLayer& l, Context& ctx) {
  Layer& layer = net.layer(l.index);
  LayerSetting s;
  s.state = sve_of(layer);
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
  if (s.state.active()) {
    SveState st = s.state;
    if (auto* c = dynamic_cast<Conv2d*>(&layer)) c->set_sve(std::move(st), w);
    else if (auto* f = dynamic_cast<Linear*>(&layer)) f->set_sve(std::move(st), w);
  } else {
    sve_of(layer) = SveState{};
    Param* p = param_named(layer, "weight");
    p->value = w;
    p->grad = Tensor::empty(w.shape(), DType::F32, w.device());
  }
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

double forward_ms(Net& net, Context& ctx, const Tensor& x, int reps) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < 2; ++i) net.forward(ctx, x, false);  // warm-up
  ctx.synchronize();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto a = Clock::now();
    net.forward(ctx, x, false);
    ctx.synchronize();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  // CPU: the fastest pass (other processes only ever add time, and this
  // 2-core machine is shared); GPU: the median.
  return ctx.is_cuda() ? t[t.size() / 2] : t.front();
}

Variant make_variant(Net& net, Context& ctx, const GemmLayer& l, size_t layer_slot, const LayerSetting& dense,
                     const std::string& method, const sve::SearchResult& search, const std::vector<int32_t>& kept,
                     SveTransform transform, const data::Dataset& train, const data::Dataset& val,
                     const FinetuneOptions& ft) {
  Variant v;
  v.layer = layer_slot;
  v.method = method;
  v.search = search;
  v.alpha = search.alpha;
  v.plan = sve::make_plan(l.K, kept);
  v.id = method == "sve" ? fmt::format("{}/sve@{:.4f}", l.name, search.alpha)
                         : fmt::format("{}/{}@{}", l.name, method, v.plan.kept_k());
  // Eliminate: truncated, scaled weight; bias unchanged.
  LayerSetting s;
  s.state = sve::make_state(v.plan, transform);
  s.weight = sve::apply_to_weight(v.plan, dense.weight.reshape({l.M, l.K}));
  s.bias = dense.bias;
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
  if (ft.iterations > 0) {
    std::vector<int64_t> idx(size_t(std::min<int64_t>(train.size(), ft.iterations * ft.batch)));
    Rng rng(ft.seed ^ (uint64_t(l.index) * 0x9E3779B97F4A7C15ull) ^ uint64_t(v.plan.kept_k()));
    for (auto& i : idx) i = int64_t(rng.below(uint64_t(train.size())));
    std::sort(idx.begin(), idx.end());
    data::Dataset part = data::subset(train, idx, train.name + "/finetune");
    train::TrainConfig cfg;
    cfg.epochs = 1;
    cfg.batch = ft.batch;
    cfg.lr.policy = "fixed";
    cfg.lr.base_lr = ft.lr;
    cfg.momentum = ft.momentum;
    cfg.weight_decay = ft.weight_decay;
    cfg.seed = ft.seed;
    cfg.keep_best = false;
    cfg.progress = false;
    train::Trainer trainer(net, ctx, cfg);
    trainer.fit(part, nullptr);
  }
  for (auto [p, t] : saved) p->trainable = t;
  v.finetune_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  v.val_acc = train::evaluate(net, ctx, val).accuracy;
  v.setting = capture(net, l, ctx);
  install(net, l, dense, ctx);
  return v;
}

}  // namespace deftnn::tune
