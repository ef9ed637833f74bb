#include "net/net.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "layers/add.h"
#include "layers/gemm_layer.h"
#include "layers/relu.h"
#include "net/safetensors.h"
#include "onnx/onnx_import.h"
#include "plan/apply.h"
#include "plan/parse.h"
#include "core/input_file.h"

namespace deftnn {

namespace {

using nlohmann::json;

constexpr const char* kGraphKey = "deftnn.graph";
constexpr const char* kMetaKey = "deftnn.meta";
constexpr const char* kVersionKey = "deftnn.version";
constexpr const char* kPlanKey = "deftnn.plan";  // plan::to_json of the execution plan
// "2": the graph may branch (inputs / outputs per layer). "1" files hold
// chains, which version 2 reads unchanged.
constexpr const char* kFormatVersion = "2";
constexpr const char* kReadableVersions[] = {"1", "2"};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Shape with_batch(Shape s, int64_t n) {
  s[0] = n;
  return s;
}

// "(N, 2, 3, 3)": a graph tensor's shape for any batch.
std::string batch_shape_str(const Shape& s) {
  std::string r = "(N";
  for (size_t d = 1; d < s.size(); ++d) r += ", " + std::to_string(s[d]);
  return r + ")";
}

}  // namespace

namespace {

// Copies `tensors` ("<layer>.<param>") into the net's parameters: every
// parameter must be there with its shape and dtype, and nothing else.
void install_tensors(Net& net, const std::map<std::string, Tensor>& tensors, const std::string& path) {
  auto cpu = Context::cpu();
  std::set<std::string> used;
  for (size_t i = 0; i < net.size(); ++i)
    for (Param* p : net.layer(i).params()) {
      Layer* l = &net.layer(i);
      std::string name = l->name() + "." + p->name;
      auto t = tensors.find(name);
      DEFTNN_CHECK(t != tensors.end(), "{}: missing tensor '{}' (layer '{}' of the graph has parameter '{}' {})",
                   path, name, l->name(), p->name, shape_str(p->value.shape()));
      DEFTNN_CHECK(t->second.shape() == p->value.shape(), "{}: tensor '{}' has shape {} but the graph needs {}", path,
                   name, shape_str(t->second.shape()), shape_str(p->value.shape()));
      DEFTNN_CHECK(t->second.dtype() == p->value.dtype(), "{}: tensor '{}' has dtype {} but the graph needs {}", path,
                   name, dtype_name(t->second.dtype()), dtype_name(p->value.dtype()));
      p->value.copy_from(t->second, *cpu);
      used.insert(name);
    }
  for (const auto& [name, t] : tensors)
    DEFTNN_CHECK(used.count(name), "{}: extra tensor '{}' {} that no layer of the graph has", path, name,
                 shape_str(t.shape()));
}

}  // namespace

std::string Net::layer_label(size_t i) const {
  return DEFTNN_FORMAT("layer {} '{}' ({})", i, layers_[i]->name(), layers_[i]->type());
}

Net Net::from_graph(const json& graph, const std::string& source) {
  Net net;
  net.source_ = source;
  // Structure: names, tensors, topological order (errors name the node).
  net.graph_ = Graph::parse(graph, source);

  // One layer per node, in topological order.
  for (const GraphNode& node : net.graph_.nodes) {
    json s = node.spec;
    const std::string& lname = node.name;
    const size_t i = node.file_index;
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
    } catch (const json::exception& e) {
      // A field of the wrong type that a layer's reader did not check.
      DEFTNN_FAIL("{}: layers[{}] '{}': {}", source, i, lname, e.what());
    }
  }

  // Shape inference for a batch of one; other batch sizes replace dim 0.
  net.graph_.infer_shapes(net.layers_);
  const Shape& first = net.graph_.tensors[net.graph_.inputs[0]].shape;
  net.input_ = Shape(first.begin() + 1, first.end());

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
    return parse_json(read_text_file(path), path);
  }
  if (onnx_import::is_onnx_path(path)) return onnx_import::import_onnx(path).graph;
  TensorFile tf = read_safetensors(path);
  auto it = tf.metadata.find(kGraphKey);
  DEFTNN_CHECK(it != tf.metadata.end(), "{}: a safetensors file but not a deftnn model: no '{}' in __metadata__", path,
               kGraphKey);
  return parse_json(it->second, DEFTNN_FORMAT("{}: __metadata__ '{}'", path, kGraphKey));
}

Net Net::load(const std::string& path) {
  if (ends_with(path, ".json")) return from_graph(read_graph_file(path), path);
  if (onnx_import::is_onnx_path(path)) {
    onnx_import::OnnxModel m = onnx_import::import_onnx(path);
    Net net = from_graph(m.graph, path);
    install_tensors(net, m.tensors, path);
    return net;
  }

  return from_tensor_file(read_safetensors(path), path);
}

Net Net::from_tensor_file(const TensorFile& tf, const std::string& path) {
  auto g = tf.metadata.find(kGraphKey);
  DEFTNN_CHECK(g != tf.metadata.end(), "{}: a safetensors file but not a deftnn model: no '{}' in __metadata__", path,
               kGraphKey);
  auto v = tf.metadata.find(kVersionKey);
  DEFTNN_CHECK(v == tf.metadata.end() || std::find(std::begin(kReadableVersions), std::end(kReadableVersions),
                                                   v->second) != std::end(kReadableVersions),
               "{}: model format version '{}' is not supported (this build reads '1' and '2')", path, v->second);
  const json graph = parse_json(g->second, DEFTNN_FORMAT("{}: __metadata__ '{}'", path, kGraphKey));
  Net net = from_graph(graph, path);
  auto m = tf.metadata.find(kMetaKey);
  if (m != tf.metadata.end()) {
    net.metadata_ = parse_json(m->second, DEFTNN_FORMAT("{}: __metadata__ '{}'", path, kMetaKey));
    DEFTNN_CHECK(net.metadata_.is_object(), "{}: __metadata__ '{}' must hold a JSON object", path, kMetaKey);
  }
  if (auto p = tf.metadata.find(kPlanKey); p != tf.metadata.end()) {
    const json plan_json = parse_json(p->second, DEFTNN_FORMAT("{}: __metadata__ '{}'", path, kPlanKey));
    try {
      plan::apply_plan(net, plan::from_json(plan_json), std::nullopt);
    } catch (const json::exception& e) {
      DEFTNN_FAIL("{}: __metadata__ '{}': {}", path, kPlanKey, e.what());
    } catch (const Error& e) {
      rethrow_with(e, DEFTNN_FORMAT("{}: __metadata__ '{}': ", path, kPlanKey));
    }
  }

  install_tensors(net, tf.tensors, path);
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

void Net::save(const std::string& path, const Context& ctx) const { write_safetensors(path, to_tensor_file(), &ctx); }

TensorFile Net::to_tensor_file() const {
  TensorFile tf;
  for (const auto& l : layers_)
    for (Param* p : l->params()) tf.tensors[l->name() + "." + p->name] = p->value;
  tf.metadata[kGraphKey] = graph().dump();
  tf.metadata[kMetaKey] = metadata_.dump();
  tf.metadata[kVersionKey] = kFormatVersion;
  tf.metadata[kPlanKey] = plan::to_json(plan::plan_of(*this)).dump();
  return tf;
}

Layer* Net::find(const std::string& layer_name) {
  for (auto& l : layers_)
    if (l->name() == layer_name) return l.get();
  return nullptr;
}

Shape Net::output_shape(size_t i, int64_t n) const {
  DEFTNN_CHECK(i < layers_.size(), "{}: layer index {} out of range ({} layers)", source_, i, layers_.size());
  return with_batch(graph_.tensors[graph_.nodes[i].outputs[0]].shape, n);
}

Shape Net::input_shape_of(size_t i, int64_t n) const {
  DEFTNN_CHECK(i < layers_.size(), "{}: layer index {} out of range ({} layers)", source_, i, layers_.size());
  return with_batch(graph_.tensors[graph_.nodes[i].inputs[0]].shape, n);
}

namespace {
std::vector<std::string> names_of(const Graph& g, const std::vector<size_t>& ids) {
  std::vector<std::string> v;
  for (size_t t : ids) v.push_back(g.tensors[t].name);
  return v;
}
}  // namespace

std::vector<std::string> Net::input_names(size_t i) const {
  DEFTNN_CHECK(i < layers_.size(), "{}: layer index {} out of range ({} layers)", source_, i, layers_.size());
  return names_of(graph_, graph_.nodes[i].inputs);
}

std::vector<std::string> Net::output_names(size_t i) const {
  DEFTNN_CHECK(i < layers_.size(), "{}: layer index {} out of range ({} layers)", source_, i, layers_.size());
  return names_of(graph_, graph_.nodes[i].outputs);
}

std::vector<size_t> Net::consumers(const std::string& tensor) const {
  std::vector<size_t> v;
  for (const auto& [node, slot] : graph_.tensors[graph_.tensor_id(tensor)].consumers)
    if (v.empty() || v.back() != node) v.push_back(node);
  return v;
}

Shape Net::tensor_shape(const std::string& tensor, int64_t n) const {
  return with_batch(graph_.tensors[graph_.tensor_id(tensor)].shape, n);
}

std::vector<std::string> Net::input_names() const { return names_of(graph_, graph_.inputs); }
std::vector<std::string> Net::output_names() const { return names_of(graph_, graph_.outputs); }

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
    edge_grads_.clear();
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
  const std::vector<GraphTensor>& tensors = graph_.tensors;
  auto is_input = [&](size_t t) { return tensors[t].producer < 0; };
  if (act_batch_ != n || acts_.size() != tensors.size()) {
    acts_.assign(tensors.size(), Tensor());
    grads_.assign(tensors.size(), Tensor());
    edge_grads_.assign(layers_.size(), {});
    for (size_t t = 0; t < tensors.size(); ++t)
      if (!is_input(t)) acts_[t] = Tensor::empty(with_batch(tensors[t].shape, n), DType::F32, device_);
    act_batch_ = n;
  }
  if (with_grads && !grads_[graph_.nodes.back().outputs[0]].defined())
    // Graph inputs get a gradient only when backward() is asked for one.
    for (size_t t = 0; t < tensors.size(); ++t)
      if (!is_input(t)) grads_[t] = Tensor::empty(with_batch(tensors[t].shape, n), DType::F32, device_);
}

void Net::set_inputs(const Context& ctx, const std::vector<Tensor>& inputs) {
  DEFTNN_CHECK(ctx.device() == device_, "{}: forward on {} but the net's parameters are on {} (call to(ctx) first)",
               source_, device_name(ctx.device()), device_name(device_));
  DEFTNN_CHECK(inputs.size() == graph_.inputs.size(), "{}: forward: {} inputs given, the graph has {} ({})", source_,
               inputs.size(), graph_.inputs.size(), fmt::join(input_names(), ", "));
  const int64_t n = inputs.empty() || !inputs[0].defined() || inputs[0].ndim() == 0 ? 0 : inputs[0].dim(0);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    const GraphTensor& t = graph_.tensors[graph_.inputs[k]];
    // One input: the messages read as they did for a chain.
    const std::string what = inputs.size() == 1 ? "input" : DEFTNN_FORMAT("input '{}'", t.name);
    DEFTNN_CHECK(x.defined(), "{}: forward: {} is undefined", source_, what);
    DEFTNN_CHECK(x.device() == device_, "{}: forward: {} is on {} but the net is on {}", source_, what,
                 device_name(x.device()), device_name(device_));
    bool fits = x.ndim() == int(t.shape.size()) && x.dim(0) > 0 && x.dim(0) == n;
    for (size_t d = 1; fits && d < t.shape.size(); ++d) fits = x.dim(int(d)) == t.shape[d];
    DEFTNN_CHECK(fits, "{}: forward: {} shape {} does not match the graph's {}{}", source_, what,
                 shape_str(x.shape()), batch_shape_str(t.shape),
                 k > 0 ? DEFTNN_FORMAT(" (with the batch {} of the first input)", n) : std::string());
    DEFTNN_CHECK(x.dtype() == DType::F32, "{}: forward: {} is {}, expected F32", source_, what,
                 dtype_name(x.dtype()));
  }
  ensure_activations(n, false);
  for (size_t k = 0; k < inputs.size(); ++k) acts_[graph_.inputs[k]] = inputs[k];
}

const Tensor& Net::forward(Context& ctx, const Tensor& x, bool train) {
  DEFTNN_CHECK(graph_.inputs.size() == 1, "{}: forward(x) on a graph of {} inputs ({}): pass one tensor per input",
               source_, graph_.inputs.size(), fmt::join(input_names(), ", "));
  set_inputs(ctx, {x});
  return *run_forward(ctx, train)[0];
}

std::vector<Tensor> Net::forward(Context& ctx, const std::vector<Tensor>& inputs, bool train) {
  set_inputs(ctx, inputs);
  std::vector<Tensor> out;
  for (const Tensor* y : run_forward(ctx, train)) out.push_back(*y);
  return out;
}

std::vector<const Tensor*> Net::run_forward(Context& ctx, bool train) {
  const std::vector<GraphNode>& nodes = graph_.nodes;
  last_forward_fused_ = false;
  std::vector<const Tensor*> out;
  if (!train && fuse_inference) {
    const std::vector<InferPlanEntry> plan = inference_plan();
    // value[t]: the buffer holding tensor t in this pass (a skipped layer's
    // output is its input's buffer; a fused ReLU's output is written by the
    // layer before it).
    std::vector<const Tensor*> value(acts_.size(), nullptr);
    for (size_t t : graph_.inputs) value[t] = &acts_[t];
    for (size_t i = 0; i < layers_.size(); ++i) {
      const InferStep s = plan[i].step;
      if (s != InferStep::Run || !plan[i].args.plain()) last_forward_fused_ = true;
      if (s == InferStep::Skip) value[nodes[i].outputs[0]] = value[nodes[i].inputs[0]];
      if (s != InferStep::Run) continue;  // Skip (its output is its input) or Fused (done)
      std::vector<const Tensor*> x;
      for (size_t t : nodes[i].inputs) x.push_back(value[t]);
      std::vector<Tensor*> y;
      for (size_t t : nodes[i + (plan[i].args.relu ? 1 : 0)].outputs) {
        y.push_back(&acts_[t]);
        value[t] = &acts_[t];
      }
      run_inference_step(ctx, plan, i, x, y);
    }
    for (size_t t : graph_.outputs) out.push_back(value[t]);
    return out;
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    std::vector<const Tensor*> x;
    for (size_t t : nodes[i].inputs) x.push_back(&acts_[t]);
    std::vector<Tensor*> y;
    for (size_t t : nodes[i].outputs) y.push_back(&acts_[t]);
    try {
      layers_[i]->forward_multi(ctx, x, y, train);
    } catch (const Error& e) {
      rethrow_with(e, DEFTNN_FORMAT("{}: forward of {}: ", source_, layer_label(i)));
    }
  }
  for (size_t t : graph_.outputs) out.push_back(&acts_[t]);
  return out;
}

void Net::run_inference_step(Context& ctx, const std::vector<InferPlanEntry>& plan, size_t i,
                             const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y) {
  const InferPlanEntry& e = plan.at(i);
  DEFTNN_CHECK(e.step == InferStep::Run, "{}: run_inference_step on {}, which the plan does not run", source_,
               layer_label(i));
  InferArgs args = e.args;
  if (e.pending_from >= 0) args.pending.bias = layers_[size_t(e.pending_from)]->deferred_bias();
  const GraphNode& node = graph_.nodes[i];
  try {
    if (node.inputs.size() == 1 && node.outputs.size() == 1) {
      DEFTNN_CHECK(x.size() == 1 && y.size() == 1, "one input and one output expected, got {} and {}", x.size(),
                   y.size());
      layers_[i]->forward_inference(ctx, *x[0], *y[0], args);
    } else {
      DEFTNN_CHECK(args.plain(), "a layer of several inputs or outputs runs plain (NCHW, nothing fused)");
      layers_[i]->forward_multi(ctx, x, y, false);
    }
  } catch (const Error& err) {
    std::string what = layer_label(i);
    if (args.relu) what += " with " + layer_label(i + 1) + " fused";
    rethrow_with(err, DEFTNN_FORMAT("{}: forward of {}: ", source_, what));
  }
}

std::vector<Net::InferPlanEntry> Net::inference_plan() const {
  std::vector<InferPlanEntry> plan(layers_.size());
  if (!fuse_inference) return plan;
  const std::vector<GraphNode>& nodes = graph_.nodes;
  const std::vector<GraphTensor>& tensors = graph_.tensors;
  auto one_to_one = [&](size_t i) { return nodes[i].inputs.size() == 1 && nodes[i].outputs.size() == 1; };
  auto is_graph_output = [&](size_t t) {
    return std::find(graph_.outputs.begin(), graph_.outputs.end(), t) != graph_.outputs.end();
  };
  // (1) identities, (2) ReLU fusion: into the layer before the ReLU when the
  // ReLU is its output's only reader and that output is no graph output.
  std::vector<size_t> run;  // the layers that run, in order
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = *layers_[i];
    if (one_to_one(i) && l.identity_at_inference()) {
      plan[i].step = InferStep::Skip;
      continue;
    }
    run.push_back(i);
    if (i + 1 < layers_.size() && one_to_one(i) && l.can_fuse_relu() && one_to_one(i + 1)) {
      const size_t t = nodes[i].outputs[0];
      if (nodes[i + 1].inputs[0] != t || tensors[t].consumers.size() != 1 || is_graph_output(t)) continue;
      if (const auto* relu = dynamic_cast<const ReluLayer*>(layers_[i + 1].get())) {
        plan[i].args.relu = true;
        plan[i].args.slope = float(relu->negative_slope());
        plan[i + 1].step = InferStep::Fused;
        ++i;
      }
    }
  }
  const bool trunk = trunk_fusion == TrunkFusion::On || (trunk_fusion == TrunkFusion::Auto && device_ == Device::CUDA);
  if (!trunk) return plan;
  // Chain edges: run[k] -> run[k + 1] where the second reads the first's
  // result and nothing else does (a skipped layer passes its input's buffer
  // on). Layouts and deferred epilogues cross only these; a chain has no
  // other edges.
  std::vector<size_t> value(tensors.size());  // the tensor whose buffer holds t in the planned pass
  for (size_t t = 0; t < tensors.size(); ++t) value[t] = t;
  for (size_t i = 0; i < layers_.size(); ++i)
    if (plan[i].step == InferStep::Skip) value[nodes[i].outputs[0]] = value[nodes[i].inputs[0]];
  std::vector<int> readers(tensors.size(), 0);
  for (size_t i : run)
    for (size_t t : nodes[i].inputs) ++readers[value[t]];
  std::vector<bool> output_value(tensors.size(), false);
  for (size_t t : graph_.outputs) output_value[value[t]] = true;
  auto chain_edge = [&](size_t k) {
    const size_t a = run[k], b = run[k + 1];
    if (!one_to_one(a) || !one_to_one(b)) return false;
    const size_t result = nodes[a + (plan[a].args.relu ? 1 : 0)].outputs[0];
    return value[nodes[b].inputs[0]] == result && readers[result] == 1 && !output_value[result];
  };
  // (3a) Layouts, per run of chain edges (a segment). A CNHW activation must
  // reach, through layers that keep CNHW (CNHW -> CNHW only, such as LRN), a
  // layer that can turn it back (CNHW -> NCHW: conv, pool) before anything
  // that reads NCHW only or the end of the segment.
  for (size_t begin = 0, end = 0; begin < run.size(); begin = end) {
    for (end = begin + 1; end < run.size() && chain_edge(end - 1);) ++end;
    auto cnhw_reaches_converter = [&](size_t k) {
      for (; k < end; ++k) {
        const Layer& l = *layers_[run[k]];
        if (l.supports_layout(Layout::CNHW, Layout::NCHW)) return true;
        if (!l.supports_layout(Layout::CNHW, Layout::CNHW)) return false;
      }
      return false;
    };
    Layout cur = Layout::NCHW;
    for (size_t k = begin; k < end; ++k) {
      InferArgs& a = plan[run[k]].args;
      const Layer& l = *layers_[run[k]];
      a.in = cur;
      a.out = l.supports_layout(cur, Layout::CNHW) && cnhw_reaches_converter(k + 1) ? Layout::CNHW : Layout::NCHW;
      DEFTNN_CHECK(l.supports_layout(a.in, a.out), "{}: inference plan: {} cannot run {} -> {}", source_,
                   layer_label(run[k]), layout_name(a.in), layout_name(a.out));
      cur = a.out;
    }
  }
  // (3b) Deferred epilogues: producer -> the next running layer, along a chain edge.
  for (size_t k = 0; k + 1 < run.size(); ++k) {
    if (!chain_edge(k)) continue;
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
  DEFTNN_CHECK(act_batch_ > 0 && acts_[graph_.inputs[0]].defined(), "{}: backward() before forward()", source_);
  const Tensor& y = acts_[graph_.outputs[0]];
  DEFTNN_CHECK(dlogits.shape() == y.shape() && dlogits.device() == device_,
               "{}: backward: d(logits) is {} on {}, expected {} on {}", source_, shape_str(dlogits.shape()),
               device_name(dlogits.device()), shape_str(y.shape()), device_name(device_));
  std::vector<Tensor> d{dlogits};
  for (size_t k = 1; k < graph_.outputs.size(); ++k)
    d.push_back(Tensor::zeros(acts_[graph_.outputs[k]].shape(), ctx));
  backward(ctx, d, false);
}

std::vector<Tensor> Net::backward(Context& ctx, const std::vector<Tensor>& d_outputs, bool input_grads) {
  DEFTNN_CHECK(act_batch_ > 0 && acts_[graph_.inputs[0]].defined(), "{}: backward() before forward()", source_);
  DEFTNN_CHECK(!last_forward_fused_,
               "{}: backward() after a fused inference forward (train = false): the skipped layers' activations "
               "were not written; run forward with train = true (or fuse_inference = false) first",
               source_);
  DEFTNN_CHECK(ctx.device() == device_, "{}: backward on {} but the net is on {}", source_, device_name(ctx.device()),
               device_name(device_));
  DEFTNN_CHECK(d_outputs.size() == graph_.outputs.size(), "{}: backward: {} output gradients given, the graph has {} "
               "outputs ({})", source_, d_outputs.size(), graph_.outputs.size(), fmt::join(output_names(), ", "));
  const std::vector<GraphNode>& nodes = graph_.nodes;
  const std::vector<GraphTensor>& tensors = graph_.tensors;
  ensure_activations(act_batch_, true);
  // Where each tensor's gradient is: the caller's for an output nobody reads,
  // else grads_[t] once `ready` (the first writer writes it, the others add).
  std::vector<const Tensor*> given(tensors.size(), nullptr);
  std::vector<char> ready(tensors.size(), 0);
  for (size_t k = 0; k < graph_.outputs.size(); ++k) {
    const size_t t = graph_.outputs[k];
    const Tensor& d = d_outputs[k];
    DEFTNN_CHECK(d.defined() && d.shape() == acts_[t].shape() && d.device() == device_ && d.dtype() == DType::F32,
                 "{}: backward: the gradient of output '{}' is {} on {}, expected {} on {}", source_, tensors[t].name,
                 d.defined() ? shape_str(d.shape()) : "undefined", device_name(d.device()),
                 shape_str(acts_[t].shape()), device_name(device_));
    if (tensors[t].consumers.empty()) {
      given[t] = &d;
    } else {
      if (!grads_[t].defined()) grads_[t] = Tensor::empty(acts_[t].shape(), DType::F32, device_);
      grads_[t].copy_from(d, ctx);
      ready[t] = 1;
    }
  }
  if (input_grads)
    for (size_t t : graph_.inputs)
      if (!grads_[t].defined() || grads_[t].shape() != acts_[t].shape())
        grads_[t] = Tensor::empty(acts_[t].shape(), DType::F32, device_);

  for (size_t i = layers_.size(); i-- > 0;) {
    const GraphNode& node = nodes[i];
    std::vector<const Tensor*> x, y, dy;
    for (size_t t : node.inputs) x.push_back(&acts_[t]);
    for (size_t t : node.outputs) {
      y.push_back(&acts_[t]);
      if (!given[t] && !ready[t]) {  // read by nobody: no gradient
        grads_[t].zero_(ctx);
        ready[t] = 1;
      }
      dy.push_back(given[t] ? given[t] : &grads_[t]);
    }
    std::vector<Tensor*> dx(node.inputs.size(), nullptr);
    std::vector<size_t> add_later;  // inputs whose gradient goes to an edge buffer, then adds
    edge_grads_[i].resize(node.inputs.size());
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const size_t t = node.inputs[k];
      if (tensors[t].producer < 0 && !input_grads) continue;  // nobody needs d(loss)/d(input)
      bool claimed = ready[t];
      for (size_t j = 0; j < k; ++j) claimed = claimed || (dx[j] == &grads_[t]);
      if (!claimed) {
        dx[k] = &grads_[t];
        continue;
      }
      Tensor& e = edge_grads_[i][k];
      if (!e.defined() || e.shape() != acts_[t].shape()) e = Tensor::empty(acts_[t].shape(), DType::F32, device_);
      dx[k] = &e;
      add_later.push_back(k);
    }
    try {
      layers_[i]->backward_multi(ctx, x, y, dy, dx);
      for (size_t k = 0; k < node.inputs.size(); ++k)
        if (dx[k] == &grads_[node.inputs[k]]) ready[node.inputs[k]] = 1;
      for (size_t k : add_later) add_into(ctx, grads_[node.inputs[k]], *dx[k]);
    } catch (const Error& e) {
      rethrow_with(e, DEFTNN_FORMAT("{}: backward of {}: ", source_, layer_label(i)));
    }
  }
  std::vector<Tensor> d_inputs;
  if (input_grads)
    for (size_t t : graph_.inputs) {
      if (!ready[t]) grads_[t].zero_(ctx);  // read by no layer
      d_inputs.push_back(grads_[t]);
    }
  return d_inputs;
}

json Net::graph() const {
  std::vector<json> layers;
  for (const auto& l : layers_) layers.push_back(l->config());
  return graph_.to_json(layers);
}

}  // namespace deftnn
