#include "net/net.h"

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "layers/gemm_layer.h"
#include "layers/relu.h"
#include "net/safetensors.h"
#include "plan/apply.h"
#include "plan/parse.h"

namespace deftnn {

namespace {

using nlohmann::json;

constexpr const char* kGraphKey = "deftnn.graph";
constexpr const char* kMetaKey = "deftnn.meta";
constexpr const char* kVersionKey = "deftnn.version";
constexpr const char* kPlanKey = "deftnn.plan";  // plan::to_json of the execution plan
constexpr const char* kFormatVersion = "1";

// Rethrows e with `prefix` in front of its message, keeping where it failed.
[[noreturn]] void rethrow_with(const Error& e, const std::string& prefix) {
  if (dynamic_cast<const OutOfMemory*>(&e))
    throw OutOfMemory(prefix + e.message(), e.statement().c_str(), e.file(), e.line());
  throw Error(prefix + e.message(), e.statement().c_str(), e.file(), e.line());
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_positive_int(const json& v) { return v.is_number_integer() && v.get<int64_t>() > 0; }

Shape with_batch(Shape s, int64_t n) {
  s[0] = n;
  return s;
}

std::string layer_label(size_t i, const Layer& l) {
  return DEFTNN_FORMAT("layer {} '{}' ({})", i, l.name(), l.type());
}

}  // namespace

Net Net::from_graph(const json& graph, const std::string& source) {
  DEFTNN_CHECK(graph.is_object(), "{}: the graph must be a JSON object, got {}", source, graph.type_name());
  // "train": the trainer's default hyperparameters for this model (read by deftnn train).
  static const std::set<std::string> kKeys = {"name", "input", "classes", "layers", "notes", "train"};
  for (auto it = graph.begin(); it != graph.end(); ++it)
    DEFTNN_CHECK(kKeys.count(it.key()), "{}: unknown key '{}' in the graph (known: name, input, classes, layers, notes, train)",
                 source, it.key());
  for (const char* k : {"name", "input", "classes", "layers"})
    DEFTNN_CHECK(graph.contains(k), "{}: the graph has no '{}' key", source, k);

  Net net;
  net.source_ = source;
  DEFTNN_CHECK(graph["name"].is_string() && !graph["name"].get<std::string>().empty(),
               "{}: key 'name' must be a non-empty string, got {}", source, graph["name"].dump());
  net.name_ = graph["name"].get<std::string>();
  if (graph.contains("notes")) {
    DEFTNN_CHECK(graph["notes"].is_string(), "{}: key 'notes' must be a string, got {}", source,
                 graph["notes"].dump());
    net.notes_ = graph["notes"].get<std::string>();
  }
  const json& in = graph["input"];
  DEFTNN_CHECK(in.is_array() && in.size() == 3 && is_positive_int(in[0]) && is_positive_int(in[1]) &&
                   is_positive_int(in[2]),
               "{}: key 'input' must be [C, H, W] (3 positive integers), got {}", source, in.dump());
  net.input_ = {in[0].get<int64_t>(), in[1].get<int64_t>(), in[2].get<int64_t>()};
  DEFTNN_CHECK(is_positive_int(graph["classes"]), "{}: key 'classes' must be a positive integer, got {}", source,
               graph["classes"].dump());
  net.classes_ = graph["classes"].get<int64_t>();
  const json& layers = graph["layers"];
  DEFTNN_CHECK(layers.is_array() && !layers.empty(), "{}: key 'layers' must be a non-empty array, got {}", source,
               layers.is_array() ? "[]" : layers.type_name());

  std::set<std::string> names;
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& spec = layers[i];
    DEFTNN_CHECK(spec.is_object(), "{}: layers[{}] must be a JSON object, got {}", source, i, spec.dump());
    DEFTNN_CHECK(spec.contains("type") && spec["type"].is_string(), "{}: layers[{}] has no string 'type': {}", source,
                 i, spec.dump());
    json s = spec;
    if (!s.contains("name")) s["name"] = DEFTNN_FORMAT("{}{}", s["type"].get<std::string>(), i);
    DEFTNN_CHECK(s["name"].is_string() && !s["name"].get<std::string>().empty(),
                 "{}: layers[{}]: 'name' must be a non-empty string, got {}", source, i, s["name"].dump());
    std::string lname = s["name"].get<std::string>();
    DEFTNN_CHECK(lname.find('.') == std::string::npos,
                 "{}: layers[{}]: name '{}' contains '.', which separates layer and parameter in model files", source,
                 i, lname);
    DEFTNN_CHECK(names.insert(lname).second, "{}: layers[{}]: duplicate layer name '{}'", source, i, lname);
    // "gemm": how a conv/linear layer's forward GEMM runs, as older model
    // files recorded it (backend, fission format, placement); converted at
    // the plan's door. Files written now keep the plan in __metadata__.
    json gemm_spec;
    if (s.contains("gemm")) {
      gemm_spec = s["gemm"];
      s.erase("gemm");
    }
    try {
      net.layers_.push_back(make_layer(s));
      if (!gemm_spec.is_null()) {
        GemmLayer* g = net.layers_.back()->as_gemm();
        DEFTNN_CHECK(g, "'gemm' given for a {} layer, which runs no GEMM", s["type"].dump());
        g->set_exec(plan::layer_exec_from_legacy_gemm(gemm_spec));
      }
    } catch (const Error& e) {
      rethrow_with(e, DEFTNN_FORMAT("{}: layers[{}] '{}': ", source, i, lname));
    }
  }

  // Shape inference for a batch of one; other batch sizes replace dim 0.
  Shape shape = {1, net.input_[0], net.input_[1], net.input_[2]};
  net.shapes_.push_back(shape);
  for (size_t i = 0; i < net.layers_.size(); ++i) {
    Layer& l = *net.layers_[i];
    Shape out;
    try {
      out = l.infer(shape);
    } catch (const Error& e) {
      rethrow_with(e, DEFTNN_FORMAT("{}: {}: input shape {} does not fit: ", source, layer_label(i, l), shape_str(shape)));
    }
    DEFTNN_CHECK(!out.empty() && out[0] == 1, "{}: {}: inferred output shape {} for input {} (batch must stay 1)",
                 source, layer_label(i, l), shape_str(out), shape_str(shape));
    for (int64_t d : out)
      DEFTNN_CHECK(d > 0, "{}: {}: input shape {} gives an empty output {}", source, layer_label(i, l),
                   shape_str(shape), shape_str(out));
    net.shapes_.push_back(out);
    shape = out;
  }
  const Layer& last = *net.layers_.back();
  DEFTNN_CHECK(shape.size() == 2 && shape[1] == net.classes_,
               "{}: the last layer '{}' ({}) outputs {} but the graph declares {} classes: the output must be (N, {})",
               source, last.name(), last.type(), shape_str(shape), net.classes_, net.classes_);

  // Every trainable parameter gets a gradient buffer of its shape.
  auto cpu = Context::cpu();
  for (auto& l : net.layers_)
    for (Param* p : l->params()) {
      DEFTNN_CHECK(p->value.defined(), "{}: layer '{}': parameter '{}' was not sized by infer()", source, l->name(),
                   p->name);
      if (p->trainable && (!p->grad.defined() || p->grad.shape() != p->value.shape()))
        p->grad = Tensor::zeros(p->value.shape(), *cpu, p->value.dtype());
    }
  return net;
}

json Net::read_graph_file(const std::string& path) {
  if (ends_with(path, ".json")) {
    std::ifstream f(path);
    DEFTNN_CHECK(f.good(), "{}: cannot open: {}", path, std::strerror(errno));
    std::stringstream ss;
    ss << f.rdbuf();
    try {
      return json::parse(ss.str());
    } catch (const json::parse_error& e) {
      DEFTNN_FAIL("{}: not valid JSON: {}", path, e.what());
    }
  }
  TensorFile tf = read_safetensors(path);
  auto it = tf.metadata.find(kGraphKey);
  DEFTNN_CHECK(it != tf.metadata.end(), "{}: a safetensors file but not a deftnn model: no '{}' in __metadata__", path,
               kGraphKey);
  try {
    return json::parse(it->second);
  } catch (const json::parse_error& e) {
    DEFTNN_FAIL("{}: __metadata__ '{}' is not valid JSON: {}", path, kGraphKey, e.what());
  }
}

Net Net::load(const std::string& path) {
  if (ends_with(path, ".json")) return from_graph(read_graph_file(path), path);

  TensorFile tf = read_safetensors(path);
  auto g = tf.metadata.find(kGraphKey);
  DEFTNN_CHECK(g != tf.metadata.end(), "{}: a safetensors file but not a deftnn model: no '{}' in __metadata__", path,
               kGraphKey);
  auto v = tf.metadata.find(kVersionKey);
  DEFTNN_CHECK(v == tf.metadata.end() || v->second == kFormatVersion,
               "{}: model format version '{}' is not supported (this build reads '{}')", path, v->second,
               kFormatVersion);
  json graph;
  try {
    graph = json::parse(g->second);
  } catch (const json::parse_error& e) {
    DEFTNN_FAIL("{}: __metadata__ '{}' is not valid JSON: {}", path, kGraphKey, e.what());
  }
  Net net = from_graph(graph, path);
  auto m = tf.metadata.find(kMetaKey);
  if (m != tf.metadata.end()) {
    try {
      net.metadata_ = json::parse(m->second);
    } catch (const json::parse_error& e) {
      DEFTNN_FAIL("{}: __metadata__ '{}' is not valid JSON: {}", path, kMetaKey, e.what());
    }
    DEFTNN_CHECK(net.metadata_.is_object(), "{}: __metadata__ '{}' must hold a JSON object", path, kMetaKey);
  }
  if (auto p = tf.metadata.find(kPlanKey); p != tf.metadata.end()) {
    try {
      plan::apply_plan(net, plan::from_json(json::parse(p->second)), std::nullopt);
    } catch (const json::parse_error& e) {
      DEFTNN_FAIL("{}: __metadata__ '{}' is not valid JSON: {}", path, kPlanKey, e.what());
    } catch (const Error& e) {
      rethrow_with(e, DEFTNN_FORMAT("{}: __metadata__ '{}': ", path, kPlanKey));
    }
  }

  auto cpu = Context::cpu();
  std::set<std::string> used;
  for (auto& l : net.layers_)
    for (Param* p : l->params()) {
      std::string name = l->name() + "." + p->name;
      auto t = tf.tensors.find(name);
      DEFTNN_CHECK(t != tf.tensors.end(), "{}: missing tensor '{}' (layer '{}' of the graph has parameter '{}' {})",
                   path, name, l->name(), p->name, shape_str(p->value.shape()));
      DEFTNN_CHECK(t->second.shape() == p->value.shape(), "{}: tensor '{}' has shape {} but the graph needs {}", path,
                   name, shape_str(t->second.shape()), shape_str(p->value.shape()));
      DEFTNN_CHECK(t->second.dtype() == p->value.dtype(), "{}: tensor '{}' has dtype {} but the graph needs {}", path,
                   name, dtype_name(t->second.dtype()), dtype_name(p->value.dtype()));
      p->value.copy_from(t->second, *cpu);
      used.insert(name);
    }
  for (const auto& [name, t] : tf.tensors)
    DEFTNN_CHECK(used.count(name), "{}: extra tensor '{}' {} that no layer of the graph has", path, name,
                 shape_str(t.shape()));
  return net;
}

void Net::save(const std::string& path) const {
  if (device_ == Device::CPU) {
    auto ctx = Context::cpu();
    save(path, *ctx);
  } else {
    auto ctx = Context::make(device_);
    save(path, *ctx);
  }
}

void Net::save(const std::string& path, const Context& ctx) const {
  TensorFile tf;
  for (const auto& l : layers_)
    for (Param* p : l->params()) tf.tensors[l->name() + "." + p->name] = p->value;
  tf.metadata[kGraphKey] = graph().dump();
  tf.metadata[kMetaKey] = metadata_.dump();
  tf.metadata[kVersionKey] = kFormatVersion;
  tf.metadata[kPlanKey] = plan::to_json(plan::plan_of(*this)).dump();
  write_safetensors(path, tf, &ctx);
}

Layer* Net::find(const std::string& layer_name) {
  for (auto& l : layers_)
    if (l->name() == layer_name) return l.get();
  return nullptr;
}

Shape Net::output_shape(size_t i, int64_t n) const {
  DEFTNN_CHECK(i < layers_.size(), "{}: layer index {} out of range ({} layers)", source_, i, layers_.size());
  return with_batch(shapes_[i + 1], n);
}

Shape Net::input_shape_of(size_t i, int64_t n) const {
  DEFTNN_CHECK(i < layers_.size(), "{}: layer index {} out of range ({} layers)", source_, i, layers_.size());
  return with_batch(shapes_[i], n);
}

int64_t Net::parameter_count() const {
  int64_t n = 0;
  for (const auto& l : layers_)
    for (Param* p : l->params())
      if (p->trainable) n += p->value.numel();
  return n;
}

void Net::init(uint64_t seed) {
  Rng rng(seed);
  for (auto& l : layers_) {
    Rng layer_rng = rng.fork();
    l->init_params(layer_rng);
  }
}

void Net::to(Context& ctx) {
  // Copies between host and GPU run on a CUDA stream: moving back to the CPU
  // with a CPU context borrows a temporary CUDA context for the copies.
  std::unique_ptr<Context> copier;
  if (!ctx.is_cuda())
    for (Param* p : params())
      if (p->value.is_cuda() || p->grad.is_cuda()) {
        copier = Context::cuda();
        break;
      }
  const Context& copy_ctx = copier ? *copier : ctx;
  for (auto& l : layers_) {
    for (Param* p : l->params()) {
      if (p->value.defined() && p->value.device() != ctx.device()) p->value = p->value.to(ctx.device(), copy_ctx);
      if (p->grad.defined() && p->grad.device() != ctx.device()) p->grad = p->grad.to(ctx.device(), copy_ctx);
    }
    l->on_device_change(ctx);
  }
  if (device_ != ctx.device()) {
    acts_.clear();
    grads_.clear();
    act_batch_ = -1;
  }
  device_ = ctx.device();
}

std::vector<Param*> Net::params() {
  std::vector<Param*> all;
  for (auto& l : layers_)
    for (Param* p : l->params()) all.push_back(p);
  return all;
}

void Net::ensure_activations(int64_t n, bool with_grads) {
  if (act_batch_ != n || acts_.size() != layers_.size() + 1) {
    acts_.assign(layers_.size() + 1, Tensor());
    grads_.assign(layers_.size() + 1, Tensor());
    for (size_t i = 1; i <= layers_.size(); ++i) acts_[i] = Tensor::empty(with_batch(shapes_[i], n), DType::F32, device_);
    act_batch_ = n;
  }
  if (with_grads && !grads_[layers_.size()].defined())
    // grads_[0] stays undefined: nobody needs d(loss)/d(input).
    for (size_t i = 1; i <= layers_.size(); ++i)
      grads_[i] = Tensor::empty(with_batch(shapes_[i], n), DType::F32, device_);
}

const Tensor& Net::forward(Context& ctx, const Tensor& x, bool train) {
  DEFTNN_CHECK(ctx.device() == device_, "{}: forward on {} but the net's parameters are on {} (call to(ctx) first)",
               source_, device_name(ctx.device()), device_name(device_));
  DEFTNN_CHECK(x.device() == device_, "{}: forward: input is on {} but the net is on {}", source_,
               device_name(x.device()), device_name(device_));
  DEFTNN_CHECK(x.ndim() == 4 && x.dim(0) > 0 && x.dim(1) == input_[0] && x.dim(2) == input_[1] &&
                   x.dim(3) == input_[2],
               "{}: forward: input shape {} does not match the graph's (N, {}, {}, {})", source_, shape_str(x.shape()),
               input_[0], input_[1], input_[2]);
  DEFTNN_CHECK(x.dtype() == DType::F32, "{}: forward: input is {}, expected F32", source_, dtype_name(x.dtype()));
  int64_t n = x.dim(0);
  ensure_activations(n, false);
  acts_[0] = x;
  last_forward_fused_ = false;
  if (!train && fuse_inference) {
    const std::vector<InferPlanEntry> plan = inference_plan();
    const Tensor* cur = &acts_[0];
    for (size_t i = 0; i < layers_.size(); ++i) {
      const InferStep s = plan[i].step;
      if (s != InferStep::Run || !plan[i].args.plain()) last_forward_fused_ = true;
      if (s != InferStep::Run) continue;  // Skip (cur is the output) or Fused (done)
      Tensor& y = acts_[i + (plan[i].args.relu ? 2 : 1)];
      run_inference_step(ctx, plan, i, *cur, y);
      cur = &y;
    }
    return *cur;
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    try {
      layers_[i]->forward(ctx, acts_[i], acts_[i + 1], train);
    } catch (const Error& e) {
      rethrow_with(e, DEFTNN_FORMAT("{}: forward of {}: ", source_, layer_label(i, *layers_[i])));
    }
  }
  return acts_.back();
}

void Net::run_inference_step(Context& ctx, const std::vector<InferPlanEntry>& plan, size_t i, const Tensor& x,
                             Tensor& y) {
  const InferPlanEntry& e = plan.at(i);
  DEFTNN_CHECK(e.step == InferStep::Run, "{}: run_inference_step on {}, which the plan does not run", source_,
               layer_label(i, *layers_[i]));
  InferArgs args = e.args;
  if (e.pending_from >= 0) args.pending.bias = layers_[size_t(e.pending_from)]->deferred_bias();
  try {
    layers_[i]->forward_inference(ctx, x, y, args);
  } catch (const Error& err) {
    std::string what = layer_label(i, *layers_[i]);
    if (args.relu) what += " with " + layer_label(i + 1, *layers_[i + 1]) + " fused";
    rethrow_with(err, DEFTNN_FORMAT("{}: forward of {}: ", source_, what));
  }
}

std::vector<Net::InferPlanEntry> Net::inference_plan() const {
  std::vector<InferPlanEntry> plan(layers_.size());
  if (!fuse_inference) return plan;
  // (1) identities, (2) ReLU fusion.
  std::vector<size_t> run;  // the layers that run, in order
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = *layers_[i];
    if (l.identity_at_inference()) {
      plan[i].step = InferStep::Skip;
      continue;
    }
    run.push_back(i);
    if (i + 1 < layers_.size() && l.can_fuse_relu())
      if (const auto* relu = dynamic_cast<const ReluLayer*>(layers_[i + 1].get())) {
        plan[i].args.relu = true;
        plan[i].args.slope = float(relu->negative_slope());
        plan[i + 1].step = InferStep::Fused;
        ++i;
      }
  }
  const bool trunk = trunk_fusion == TrunkFusion::On || (trunk_fusion == TrunkFusion::Auto && device_ == Device::CUDA);
  if (!trunk) return plan;
  // (3a) Layouts. A CNHW activation must reach, through layers that keep
  // CNHW (CNHW -> CNHW only, such as LRN), a layer that can turn it back
  // (CNHW -> NCHW: conv, pool) before anything that reads NCHW only or the
  // end of the net.
  auto cnhw_reaches_converter = [&](size_t k) {
    for (; k < run.size(); ++k) {
      const Layer& l = *layers_[run[k]];
      if (l.supports_layout(Layout::CNHW, Layout::NCHW)) return true;
      if (!l.supports_layout(Layout::CNHW, Layout::CNHW)) return false;
    }
    return false;
  };
  Layout cur = Layout::NCHW;
  for (size_t k = 0; k < run.size(); ++k) {
    InferArgs& a = plan[run[k]].args;
    const Layer& l = *layers_[run[k]];
    a.in = cur;
    a.out = l.supports_layout(cur, Layout::CNHW) && cnhw_reaches_converter(k + 1) ? Layout::CNHW : Layout::NCHW;
    DEFTNN_CHECK(l.supports_layout(a.in, a.out), "{}: inference plan: {} cannot run {} -> {}", source_,
                 layer_label(run[k], l), layout_name(a.in), layout_name(a.out));
    cur = a.out;
  }
  // (3b) Deferred epilogues: producer -> the next running layer.
  for (size_t k = 0; k + 1 < run.size(); ++k) {
    InferPlanEntry& p = plan[run[k]];
    InferPlanEntry& c = plan[run[k + 1]];
    const Layer& prod = *layers_[run[k]];
    if (!prod.can_defer_epilogue() || !layers_[run[k + 1]]->can_absorb_pending(p.args.relu ? p.args.slope : 0.f))
      continue;
    p.args.defer = true;
    c.args.pending.relu = p.args.relu;
    c.args.pending.slope = p.args.slope;
    c.pending_from = int(run[k]);
  }
  return plan;
}

void Net::backward(Context& ctx, const Tensor& dlogits) {
  DEFTNN_CHECK(act_batch_ > 0 && acts_[0].defined(), "{}: backward() before forward()", source_);
  DEFTNN_CHECK(!last_forward_fused_,
               "{}: backward() after a fused inference forward (train = false): the skipped layers' activations "
               "were not written; run forward with train = true (or fuse_inference = false) first",
               source_);
  DEFTNN_CHECK(ctx.device() == device_, "{}: backward on {} but the net is on {}", source_, device_name(ctx.device()),
               device_name(device_));
  DEFTNN_CHECK(dlogits.shape() == acts_.back().shape() && dlogits.device() == device_,
               "{}: backward: d(logits) is {} on {}, expected {} on {}", source_, shape_str(dlogits.shape()),
               device_name(dlogits.device()), shape_str(acts_.back().shape()), device_name(device_));
  ensure_activations(act_batch_, true);
  for (size_t i = layers_.size(); i-- > 0;) {
    const Tensor& dy = (i + 1 == layers_.size()) ? dlogits : grads_[i + 1];
    Tensor* dx = i > 0 ? &grads_[i] : nullptr;
    try {
      layers_[i]->backward(ctx, acts_[i], acts_[i + 1], dy, dx);
    } catch (const Error& e) {
      rethrow_with(e, DEFTNN_FORMAT("{}: backward of {}: ", source_, layer_label(i, *layers_[i])));
    }
  }
}

json Net::graph() const {
  json g = json::object();
  g["name"] = name_;
  g["input"] = input_;
  g["classes"] = classes_;
  if (!notes_.empty()) g["notes"] = notes_;
  json layers = json::array();
  for (const auto& l : layers_) layers.push_back(l->config());
  g["layers"] = layers;
  return g;
}

}  // namespace deftnn
