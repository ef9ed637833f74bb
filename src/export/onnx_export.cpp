#include "export/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "core/error.h"
#include "layers/gemm_layer.h"
#include "net/safetensors.h"

namespace deftnn::onnx_export {

namespace {

using nlohmann::json;

// Opset 17 (LayerNormalization is 17, HardSwish 14), IR version 8 (ONNX
// 1.12); a net with a GELU takes opset 20 (ONNX's Gelu), IR version 9, so the
// file reads back into deftnn (whose importer maps Gelu, not its erf pattern).
constexpr int64_t kOpset = 17, kIrVersion = 8;
constexpr int64_t kGeluOpset = 20, kGeluIrVersion = 9;

const char* const kExportable[] = {"conv",    "linear",    "relu",   "clip",    "activation", "maxpool",
                                   "avgpool", "lrn",       "dropout", "flatten", "batchnorm",  "softmax",
                                   "add",     "concat",    "layernorm", "gelu"};

// Element-wise or per-channel layers a dropped channel or neuron passes
// through unchanged (the producer-shrinking walk crosses only these).
bool channel_preserving(const std::string& type) {
  return type == "relu" || type == "clip" || type == "activation" || type == "dropout" || type == "maxpool" ||
         type == "avgpool" || type == "gelu";
}

Param* find_param(Layer& l, const std::string& name) {
  for (Param* p : l.params())
    if (p->name == name) return p;
  return nullptr;
}

std::vector<float> host_floats(const Tensor& t) {
  DEFTNN_CHECK(t.device() == Device::CPU && t.dtype() == DType::F32, "export: a parameter is not a CPU F32 tensor");
  std::vector<float> v(size_t(t.numel()));
  if (!v.empty()) std::memcpy(v.data(), t.raw(), v.size() * sizeof(float));
  return v;
}

int64_t pair_at(const json& j, int k) { return j.is_array() ? j.at(k).get<int64_t>() : j.get<int64_t>(); }

// The GEMM layers' view that export needs: which input rows (features, or
// input channels of one group for a conv) the exported weight reads, in order.
struct GemmPlan {
  bool is_conv = false;
  int64_t groups = 1, kh = 1, kw = 1, cin = 0, cg = 0;  // conv: input channels, per group
  std::vector<int64_t> inputs;  // kept features (linear, weight-column order) or kept channels of a group (conv, sorted)
  bool reduced = false;         // inputs is a strict subset (or, for linear, a permutation) of the full input
  bool preselected = false;     // the producer already writes exactly `inputs`, in order: no Gather
  // linear on a (C, H, W) tensor (directly or through a flatten) whose kept
  // features are whole channels (blocks of `block` = H*W features, as the
  // channel-granular search keeps them): the kept channels, ascending.
  int64_t block = 0;
  std::vector<int64_t> channels;
};

class Exporter {
 public:
  Exporter(Net& net, const std::string& source) : net_(net), source_(source) {
    bool gelu = false;
    for (size_t i = 0; i < net.size(); ++i) gelu = gelu || net.layer(i).type() == "gelu";
    model_.set_ir_version(gelu ? kGeluIrVersion : kIrVersion);
    model_.set_producer_name("deftnn");
    model_.set_model_version(1);
    auto* op = model_.add_opset_import();
    op->set_domain("");
    op->set_version(gelu ? kGeluOpset : kOpset);
    graph_ = model_.mutable_graph();
    graph_->set_name(net.name().empty() ? "deftnn" : net.name());
  }

  ExportSummary run() {
    check_exportable();
    plan_gemms();
    plan_shrinking();
    for (const std::string& in : net_.input_names()) add_value(graph_->add_input(), in);
    for (size_t i = 0; i < net_.size(); ++i) export_layer(i);
    for (const std::string& out : net_.output_names()) add_value(graph_->add_output(), out, rows_of_tensor(out));
    summary_.nodes = graph_->node_size();
    return summary_;
  }

  const onnx::ModelProto& model() const { return model_; }

 private:
  // ----- analysis ---------------------------------------------------------

  void check_exportable() const {
    for (size_t i = 0; i < net_.size(); ++i) {
      const Layer& l = net_.layer(i);
      const std::string t = l.type();
      DEFTNN_CHECK(std::find(std::begin(kExportable), std::end(kExportable), t) != std::end(kExportable),
                   "{}: layer '{}' ({}) cannot be exported to ONNX yet (exportable layer types: {})", source_,
                   l.name(), t, fmt::join(kExportable, ", "));
    }
  }

  void plan_gemms() {
    plans_.resize(net_.size());
    for (size_t i = 0; i < net_.size(); ++i) {
      const GemmLayer* g = net_.layer(i).as_gemm();
      if (!g) continue;
      GemmPlan& p = plans_[i];
      const json c = net_.layer(i).config();
      p.is_conv = net_.layer(i).type() == "conv";
      const Shape in = net_.tensor_shape(net_.input_names(i)[0], 1);
      if (p.is_conv) {
        p.groups = c.value("groups", int64_t(1));
        p.kh = pair_at(c.at("kernel"), 0);
        p.kw = pair_at(c.at("kernel"), 1);
        p.cin = in.at(1);
        p.cg = p.cin / p.groups;
      }
      const SveState& s = g->sve();
      if (!s.active()) continue;
      if (p.is_conv) {
        std::set<int64_t> ch;
        for (int32_t k : s.kept) ch.insert(int64_t(k) / (p.kh * p.kw));
        p.inputs.assign(ch.begin(), ch.end());
        p.reduced = int64_t(p.inputs.size()) < p.cg;
      } else {
        p.inputs.assign(s.kept.begin(), s.kept.end());
        p.reduced = true;
        plan_channel_blocks(i, p);
      }
    }
  }

  // The (C, H, W) tensor a linear layer's input flattens: its own input when
  // 4-D, else through a flatten reached by element-wise layers only.
  std::optional<Shape> flattened_from(size_t i) const {
    std::string t = net_.input_names(i)[0];
    while (true) {
      const Shape s = net_.tensor_shape(t, 1);
      if (s.size() == 4) return s;
      const std::optional<size_t> w = writer(t);
      if (s.size() != 2 || !w) return std::nullopt;
      const std::string type = net_.layer(*w).type();
      if (type != "flatten" && !(channel_preserving(type) && type != "maxpool" && type != "avgpool"))
        return std::nullopt;
      t = net_.input_names(*w)[0];
    }
  }

  // Whether a linear layer's kept features are whole channels of the
  // tensor it flattens (whatever granularity the search ran at).
  void plan_channel_blocks(size_t i, GemmPlan& p) const {
    const std::optional<Shape> from = flattened_from(i);
    if (!from) return;
    const int64_t block = (*from)[2] * (*from)[3];
    std::vector<int64_t> sorted = p.inputs;
    std::sort(sorted.begin(), sorted.end());
    if (block < 1 || sorted.size() % size_t(block)) return;
    std::vector<int64_t> ch;
    for (size_t k = 0; k < sorted.size(); k += size_t(block)) {
      if (sorted[k] % block) return;
      for (int64_t t = 1; t < block; ++t)
        if (sorted[k + size_t(t)] != sorted[k] + t) return;
      ch.push_back(sorted[k] / block);
    }
    p.block = block;
    p.channels = std::move(ch);
  }

  // A consumer's kept inputs come from one GEMM producer through
  // channel-preserving layers that nothing else reads: the producer writes
  // only those rows, in the consumer's order.
  // A linear layer that keeps whole channels of a flattened (C, H, W) tensor
  // (p.block) walks back through the flatten too, and its producer writes the
  // kept channels, ascending (export_linear orders the weight's columns so).
  // Batchnorm is crossed with its parameters sliced the same way. Not
  // crossed: add, concat, split (other readers or writers of those
  // channels), LRN (each output mixes neighbouring channels), grouped
  // producers or consumers: those consumers keep a Gather.
  void plan_shrinking() {
    rows_.resize(net_.size());
    std::set<std::string> graph_outputs;
    for (const std::string& o : net_.output_names()) graph_outputs.insert(o);
    for (size_t i = 0; i < net_.size(); ++i) {
      GemmPlan& p = plans_[i];
      if (!net_.layer(i).has_gemm() || !p.reduced || p.groups != 1) continue;
      const bool blocks = !p.is_conv && p.block > 0;
      if (!p.is_conv && !blocks && net_.tensor_shape(net_.input_names(i)[0], 1).size() != 2) continue;  // tokens, or a flatten of partial channels
      std::string t = net_.input_names(i)[0];
      std::optional<size_t> producer;
      std::vector<size_t> norms;  // batchnorm layers crossed: their parameters go with the producer's rows
      while (true) {
        if (graph_outputs.count(t) || net_.consumers(t).size() != 1) break;
        const std::optional<size_t> w = writer(t);
        if (!w) break;
        const Layer& l = net_.layer(*w);
        if (l.has_gemm()) {
          if (plans_[*w].groups == 1 && net_.output_names(*w).size() == 1 &&
              (!blocks || net_.tensor_shape(t, 1).size() == 4))
            producer = w;
          break;
        }
        // A batchnorm is per channel (per feature on a 2-D input): crossed
        // with its parameters sliced, unless it sits between a flatten and a
        // block consumer, where its entries are features, not channels.
        const bool norm = l.type() == "batchnorm" && (!blocks || net_.tensor_shape(t, 1).size() == 4);
        const bool crossing = channel_preserving(l.type()) || norm || (blocks && l.type() == "flatten");
        if (!crossing || net_.input_names(*w).size() != 1) break;
        if (norm) norms.push_back(*w);
        t = net_.input_names(*w)[0];
      }
      if (!producer || rows_[*producer]) continue;
      rows_[*producer] = blocks ? p.channels : p.inputs;
      for (size_t n : norms) rows_[n] = rows_[*producer];
      p.preselected = true;
      ++summary_.shrunk_producers;
    }
  }

  std::optional<size_t> writer(const std::string& tensor) const {
    for (size_t i = 0; i < net_.size(); ++i)
      for (const std::string& o : net_.output_names(i))
        if (o == tensor) return i;
    return std::nullopt;
  }

  // Channels (or features) of a tensor after producer shrinking, for its
  // declared shape: the rows of the GEMM layer upstream whose rows went.
  std::optional<int64_t> rows_of_tensor(const std::string& tensor) const {
    std::string t = tensor;
    while (const std::optional<size_t> w = writer(t)) {
      if (rows_[*w]) return int64_t(rows_[*w]->size());
      if (!channel_preserving(net_.layer(*w).type())) return std::nullopt;
      t = net_.input_names(*w)[0];
    }
    return std::nullopt;
  }

  // ----- graph building ---------------------------------------------------

  void add_value(onnx::ValueInfoProto* v, const std::string& name, std::optional<int64_t> channels = std::nullopt) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    const Shape s = net_.tensor_shape(name, 1);
    auto* shape = tt->mutable_shape();
    for (size_t k = 0; k < s.size(); ++k) {
      auto* d = shape->add_dim();
      if (k == 0)
        d->set_dim_param("N");
      else
        d->set_dim_value(k == 1 && channels ? *channels : s[k]);
    }
  }

  std::string fresh(const std::string& base) { return base + "/" + std::to_string(counter_++); }

  onnx::NodeProto* node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                        std::vector<std::string> outputs) {
    onnx::NodeProto* n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& s : inputs) n->add_input(s);
    for (const auto& s : outputs) n->add_output(s);
    return n;
  }

  static void attr_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr_float(onnx::NodeProto* n, const std::string& name, double v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(float(v));
  }
  static void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }

  std::string init_floats(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v,
                          bool parameter = true) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    if (parameter) summary_.parameters += int64_t(v.size());
    return name;
  }
  std::string init_ints(const std::string& name, const std::vector<int64_t>& v) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(int64_t(v.size()));
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t)));
    return name;
  }

  std::string gather(const std::string& x, const std::string& layer, int64_t axis, const std::vector<int64_t>& idx) {
    const std::string out = fresh(layer + "/kept");
    const std::string ind = init_ints(layer + ".kept_inputs", idx);
    attr_int(node("Gather", layer + "/Gather", {x, ind}, {out}), "axis", axis);
    ++summary_.gathers;
    return out;
  }

  void export_layer(size_t i) {
    Layer& l = net_.layer(i);
    const std::string t = l.type(), name = l.name();
    const std::vector<std::string> in = net_.input_names(i), out = net_.output_names(i);
    const json c = l.config();
    if (t == "conv") return export_conv(i);
    if (t == "linear") return export_linear(i);
    if (t == "relu") {
      const double slope = c.value("negative_slope", 0.0);
      if (slope == 0) {
        node("Relu", name, {in[0]}, {out[0]});
      } else {
        attr_float(node("LeakyRelu", name, {in[0]}, {out[0]}), "alpha", slope);
      }
      return;
    }
    if (t == "clip") {
      const std::string lo = init_floats(name + ".min", {}, {float(c.at("min").get<double>())}, false);
      const std::string hi = init_floats(name + ".max", {}, {float(c.at("max").get<double>())}, false);
      node("Clip", name, {in[0], lo, hi}, {out[0]});
      return;
    }
    if (t == "activation") {
      const std::string kind = c.at("kind").get<std::string>();
      if (kind == "sigmoid") {
        node("Sigmoid", name, {in[0]}, {out[0]});
      } else if (kind == "tanh") {
        node("Tanh", name, {in[0]}, {out[0]});
      } else if (kind == "hardswish") {
        node("HardSwish", name, {in[0]}, {out[0]});
      } else if (kind == "hardsigmoid") {
        auto* n = node("HardSigmoid", name, {in[0]}, {out[0]});
        attr_float(n, "alpha", c.at("alpha").get<double>());
        attr_float(n, "beta", c.at("beta").get<double>());
      } else {
        DEFTNN_FAIL("{}: layer '{}' (activation): kind '{}' cannot be exported to ONNX", source_, name, kind);
      }
      return;
    }
    if (t == "maxpool" || t == "avgpool") return export_pool(i);
    if (t == "lrn") {
      auto* n = node("LRN", name, {in[0]}, {out[0]});
      attr_int(n, "size", c.at("local_size").get<int64_t>());
      attr_float(n, "alpha", c.at("alpha").get<double>());
      attr_float(n, "beta", c.at("beta").get<double>());
      attr_float(n, "bias", c.at("k").get<double>());
      return;
    }
    if (t == "dropout") {
      node("Identity", name, {in[0]}, {out[0]});
      return;
    }
    if (t == "flatten") {
      attr_int(node("Flatten", name, {in[0]}, {out[0]}), "axis", 1);
      return;
    }
    if (t == "softmax") {
      attr_int(node("Softmax", name, {in[0]}, {out[0]}), "axis", 1);
      return;
    }
    if (t == "add") {
      node(in.size() == 2 ? "Add" : "Sum", name, in, {out[0]});
      return;
    }
    if (t == "concat") {
      attr_int(node("Concat", name, in, {out[0]}), "axis", c.value("axis", int64_t(1)));
      return;
    }
    if (t == "batchnorm") {
      std::vector<std::string> ins = {in[0]};
      for (const char* p : {"weight", "bias", "running_mean", "running_var"}) {
        const Param* q = find_param(l, p);
        DEFTNN_CHECK(q, "{}: layer '{}' (batchnorm) has no parameter '{}'", source_, name, p);
        std::vector<float> v = host_floats(q->value);
        if (rows_[i]) {  // between a shrunk producer and its consumer: the kept channels only
          std::vector<float> kept;
          for (int64_t r : *rows_[i]) kept.push_back(v.at(size_t(r)));
          v = std::move(kept);
        }
        ins.push_back(init_floats(name + "." + p, {int64_t(v.size())}, v));
      }
      summary_.dense_parameters += 4 * find_param(l, "weight")->value.numel();
      attr_float(node("BatchNormalization", name, ins, {out[0]}), "epsilon", c.at("eps").get<double>());
      return;
    }
    if (t == "layernorm") {
      const Param* w = find_param(l, "weight");
      const Param* b = find_param(l, "bias");
      DEFTNN_CHECK(w && b, "{}: layer '{}' (layernorm) has no weight or bias", source_, name);
      const std::string wn = init_floats(name + ".weight", {w->value.numel()}, host_floats(w->value));
      const std::string bn = init_floats(name + ".bias", {b->value.numel()}, host_floats(b->value));
      summary_.dense_parameters += 2 * w->value.numel();
      auto* n = node("LayerNormalization", name, {in[0], wn, bn}, {out[0]});
      attr_int(n, "axis", -1);
      attr_float(n, "epsilon", c.at("eps").get<double>());
      return;
    }
    if (t == "gelu") {  // exact (erf) GELU: ONNX's Gelu, approximate "none" (opset 20)
      node("Gelu", name, {in[0]}, {out[0]});
      return;
    }
    DEFTNN_FAIL("{}: layer '{}' ({}) cannot be exported to ONNX yet", source_, name, t);
  }

  void export_pool(size_t i) {
    Layer& l = net_.layer(i);
    const json c = l.config();
    const std::string name = l.name();
    const int64_t k = c.at("kernel").get<int64_t>(), s = c.at("stride").get<int64_t>(),
                  p = c.at("pad").get<int64_t>();
    const bool ceil = c.value("ceil", true);
    const Shape in = net_.tensor_shape(net_.input_names(i)[0], 1);
    const Shape out = net_.tensor_shape(net_.output_names(i)[0], 1);
    DEFTNN_CHECK(in.size() == 4, "{}: layer '{}' ({}): a pool of a rank-{} input cannot be exported", source_, name,
                 l.type(), in.size());
    // ONNX's floor rounding gives the engine's output size unless Caffe's
    // ceil rounding added a window; then ceil_mode 1 (ONNX Runtime drops a
    // window that would start in the right padding, as Caffe does).
    bool floor_agrees = true;
    for (int d = 2; d < 4; ++d) floor_agrees = floor_agrees && (in[d] + 2 * p - k) / s + 1 == out[d];
    const bool ceil_mode = ceil && !floor_agrees;
    const bool is_avg = l.type() == "avgpool";
    // Caffe's average divides by the window clipped to the padded input: with
    // floor rounding every window lies in it (count_include_pad 1); with ceil
    // rounding and no padding, by the window clipped to the input
    // (count_include_pad 0). Ceil rounding with padding has windows ONNX
    // divides differently.
    DEFTNN_CHECK(!(is_avg && ceil_mode && p > 0),
                 "{}: layer '{}' (avgpool): Caffe's ceil rounding with pad {} divides edge windows by a count ONNX's "
                 "AveragePool cannot express; export needs \"ceil\": false or pad 0",
                 source_, name, p);
    auto* n = node(is_avg ? "AveragePool" : "MaxPool", name, {net_.input_names(i)[0]}, {net_.output_names(i)[0]});
    attr_ints(n, "kernel_shape", {k, k});
    attr_ints(n, "strides", {s, s});
    attr_ints(n, "pads", {p, p, p, p});
    if (ceil_mode) attr_int(n, "ceil_mode", 1);
    if (is_avg) attr_int(n, "count_include_pad", ceil_mode ? 0 : 1);
  }

  // The weight rows (output channels / features) this layer writes: every
  // one, or those a consumer keeps (producer shrinking).
  std::vector<int64_t> out_rows(size_t i, int64_t out) const {
    if (rows_[i]) return *rows_[i];
    std::vector<int64_t> r(static_cast<size_t>(out));
    for (int64_t k = 0; k < out; ++k) r[size_t(k)] = k;
    return r;
  }

  std::optional<std::string> bias_init(Layer& l, const std::vector<int64_t>& rows) {
    const Param* b = find_param(l, "bias");
    if (!b || !b->value.defined() || b->value.numel() == 0) return std::nullopt;
    const std::vector<float> all = host_floats(b->value);
    summary_.dense_parameters += int64_t(all.size());
    std::vector<float> v;
    for (int64_t r : rows) v.push_back(all.at(size_t(r)));
    return init_floats(l.name() + ".bias", {int64_t(v.size())}, v);
  }

  void export_conv(size_t i) {
    Layer& l = net_.layer(i);
    const GemmLayer& g = *l.as_gemm();
    const GemmPlan& p = plans_[i];
    const json c = l.config();
    const std::string name = l.name();
    const Param* w = find_param(l, "weight");
    DEFTNN_CHECK(w, "{}: layer '{}' (conv) has no weight", source_, name);
    const std::vector<float> wv = host_floats(w->value);
    const int64_t out = g.weight_rows(), taps = p.kh * p.kw, full_k = p.cg * taps;
    summary_.dense_parameters += out * full_k;
    const std::vector<int64_t> rows = out_rows(i, out);
    const SveState& s = g.sve();
    std::string x = net_.input_names(i)[0];
    int64_t cw = p.cg;  // input channels per group the exported weight reads
    std::vector<float> we;
    if (!s.active()) {
      for (int64_t r : rows) we.insert(we.end(), wv.begin() + r * full_k, wv.begin() + (r + 1) * full_k);
    } else {
      cw = int64_t(p.inputs.size());
      std::vector<int64_t> pos(size_t(p.cg), -1);
      for (size_t k = 0; k < p.inputs.size(); ++k) pos[size_t(p.inputs[k])] = int64_t(k);
      const int64_t kp = int64_t(s.kept.size());
      we.assign(size_t(int64_t(rows.size()) * cw * taps), 0.f);
      for (size_t ro = 0; ro < rows.size(); ++ro)
        for (int64_t j = 0; j < kp; ++j) {
          const int64_t kk = s.kept[size_t(j)], ch = kk / taps, tap = kk % taps;
          we[size_t((int64_t(ro) * cw + pos[size_t(ch)]) * taps + tap)] = wv[size_t(rows[ro] * kp + j)];
        }
      if (p.reduced && !p.preselected) {
        std::vector<int64_t> idx;
        for (int64_t gi = 0; gi < p.groups; ++gi)
          for (int64_t ch : p.inputs) idx.push_back(gi * p.cg + ch);
        x = gather(x, name, 1, idx);
      }
    }
    std::vector<std::string> ins = {
        x, init_floats(name + ".weight", {int64_t(rows.size()), cw, p.kh, p.kw}, we)};
    if (auto b = bias_init(l, rows)) ins.push_back(*b);
    auto* n = node("Conv", name, ins, {net_.output_names(i)[0]});
    const int64_t sh = pair_at(c.at("stride"), 0), sw = pair_at(c.at("stride"), 1);
    const int64_t ph = pair_at(c.at("pad"), 0), pw = pair_at(c.at("pad"), 1);
    attr_ints(n, "kernel_shape", {p.kh, p.kw});
    attr_ints(n, "strides", {sh, sw});
    attr_ints(n, "pads", {ph, pw, ph, pw});
    attr_int(n, "group", p.groups);
  }

  void export_linear(size_t i) {
    Layer& l = net_.layer(i);
    const GemmLayer& g = *l.as_gemm();
    const GemmPlan& p = plans_[i];
    const std::string name = l.name();
    const Param* w = find_param(l, "weight");
    DEFTNN_CHECK(w, "{}: layer '{}' (linear) has no weight", source_, name);
    const std::vector<float> wv = host_floats(w->value);
    const int64_t out = g.weight_rows(), k = g.gemm_k();
    summary_.dense_parameters += out * g.full_k();
    const std::vector<int64_t> rows = out_rows(i, out);
    std::vector<float> we;
    for (int64_t r : rows) we.insert(we.end(), wv.begin() + r * k, wv.begin() + (r + 1) * k);
    if (p.preselected && p.block > 0) {
      // The producer writes the kept channels ascending, so the flattened
      // input holds the kept features ascending: the weight's columns (in
      // the SVE state's kept order) are put in that order.
      std::vector<int64_t> order(p.inputs.size());
      for (size_t j = 0; j < order.size(); ++j) order[j] = int64_t(j);
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p.inputs[size_t(a)] < p.inputs[size_t(b)]; });
      std::vector<float> sorted(we.size());
      for (size_t r = 0; r < rows.size(); ++r)
        for (size_t j = 0; j < order.size(); ++j) sorted[r * size_t(k) + j] = we[r * size_t(k) + size_t(order[j])];
      we = std::move(sorted);
    }
    const Shape in_shape = net_.tensor_shape(net_.input_names(i)[0], 1);
    std::string x = net_.input_names(i)[0];
    const int64_t m = int64_t(rows.size());
    if (in_shape.size() == 3) {  // tokens (N, T, F): x W^T + b over the last axis
      if (p.reduced && !p.preselected) x = gather(x, name, 2, p.inputs);
      std::vector<float> wt(we.size());
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < k; ++j) wt[size_t(j * m + r)] = we[size_t(r * k + j)];
      const std::string wn = init_floats(name + ".weight", {k, m}, wt);
      const auto b = bias_init(l, rows);
      const std::string y = b ? fresh(name) : net_.output_names(i)[0];
      node("MatMul", name + "/MatMul", {x, wn}, {y});
      if (b) node("Add", name + "/Add", {y, *b}, {net_.output_names(i)[0]});
      return;
    }
    if (in_shape.size() != 2) {
      const std::string f = fresh(name + "/flat");
      attr_int(node("Flatten", name + "/Flatten", {x}, {f}), "axis", 1);
      x = f;
    }
    if (p.reduced && !p.preselected) x = gather(x, name, 1, p.inputs);
    std::vector<std::string> ins = {x, init_floats(name + ".weight", {m, k}, we)};
    if (auto b = bias_init(l, rows)) ins.push_back(*b);
    attr_int(node("Gemm", name, ins, {net_.output_names(i)[0]}), "transB", 1);
  }

  Net& net_;
  std::string source_;
  onnx::ModelProto model_;
  onnx::GraphProto* graph_ = nullptr;
  std::vector<GemmPlan> plans_;
  std::vector<std::optional<std::vector<int64_t>>> rows_;  // per layer: the output rows it keeps (producer shrinking)
  ExportSummary summary_;
  int64_t counter_ = 0;
};

}  // namespace

ExportSummary export_onnx(Net& net, const std::string& source, const std::string& path) {
  Exporter e(net, source);
  const ExportSummary summary = e.run();
  try {
    // The checker of the ONNX library built against (Debian's 1.12: IR 8,
    // opset 17) refuses newer files outright; a GELU's opset-20 file is then
    // left to the runtime that loads it (ONNX Runtime's own check, in the tests).
    if (e.model().ir_version() <= ::onnx::IR_VERSION) ::onnx::checker::check_model(e.model());
  } catch (const std::exception& ex) {
    DEFTNN_FAIL("{}: the ONNX graph exported from {} does not pass ONNX's checker: {}", path, source, ex.what());
  }
  std::string bytes;
  DEFTNN_CHECK(e.model().SerializeToString(&bytes),
               "{}: protobuf cannot serialise the ONNX model of {} (over 2 GiB?)", path, source);
  write_file_atomic(path, {{bytes.data(), bytes.size()}});
  return summary;
}

}  // namespace deftnn::onnx_export
