#include "onnx/onnx_import.h"

#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/input_file.h"
#include "onnx/onnx_tensor.h"

namespace deftnn::onnx_import {

namespace {

using nlohmann::json;
using Dims = std::vector<int64_t>;  // a tensor's dims from shape inference; -1 where unknown or symbolic

// protobuf refuses messages of 2 GiB and more; larger models keep their
// weights as external data.
constexpr uint64_t kMaxModelBytes = (uint64_t(1) << 31) - 1;
constexpr size_t kMaxName = 256;  // the graph's kMaxNameLength (layer and tensor names)
constexpr int64_t kMinOpset = 13;

std::string dims_str(const Dims& d) {
  std::string s = "(";
  for (size_t k = 0; k < d.size(); ++k) s += (k ? ", " : "") + (d[k] < 0 ? std::string("?") : std::to_string(d[k]));
  return s + ")";
}

// A layer name the engine takes: no '.' (it separates layer and parameter
// in model files), printable, at most 200 characters; torch's
// "/layer1/layer1.0/conv1/Conv" becomes "layer1_layer1_0_conv1_Conv".
std::string sanitize(const std::string& s) {
  std::string r;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (ok) r += c;
    else if (!r.empty() && r.back() != '_') r += '_';
  }
  while (!r.empty() && r.back() == '_') r.pop_back();
  return r.substr(0, 200);
}

class Importer {
 public:
  explicit Importer(std::string path) : path_(std::move(path)) {}
  OnnxModel run();

 private:
  using Handler = void (Importer::*)();
  struct Op {
    const char* type;
    Handler handle;
    std::set<std::string> attrs;  // the attributes it reads; any other is refused
  };
  static const std::vector<Op>& ops();

  void parse_file();
  void infer_shapes();
  void read_graph_inputs();
  void import_node(size_t i);

  // Messages: "FILE: node 'NAME' (OP): why".
  [[noreturn]] void fail(const std::string& why) const {
    DEFTNN_FAIL("{}: node '{}' ({}): {}", path_, node_->name(), node_->op_type(), why);
  }
  // Attributes.
  const onnx::AttributeProto* attr(const std::string& name) const {
    for (const auto& a : node_->attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t attr_int(const std::string& name, int64_t def) const {
    const auto* a = attr(name);
    if (!a) return def;
    if (a->type() != onnx::AttributeProto::INT) fail(DEFTNN_FORMAT("attribute '{}' must be an integer", name));
    return a->i();
  }
  double attr_float(const std::string& name, double def) const {
    const auto* a = attr(name);
    if (!a) return def;
    if (a->type() != onnx::AttributeProto::FLOAT) fail(DEFTNN_FORMAT("attribute '{}' must be a float", name));
    return a->f();
  }
  Dims attr_ints(const std::string& name, Dims def) const {
    const auto* a = attr(name);
    if (!a) return def;
    if (a->type() != onnx::AttributeProto::INTS) fail(DEFTNN_FORMAT("attribute '{}' must be a list of integers", name));
    return Dims(a->ints().begin(), a->ints().end());
  }
  std::string attr_string(const std::string& name, const std::string& def) const {
    const auto* a = attr(name);
    if (!a) return def;
    if (a->type() != onnx::AttributeProto::STRING) fail(DEFTNN_FORMAT("attribute '{}' must be a string", name));
    return a->s();
  }
  // Inputs.
  bool has_input(int k) const { return k < node_->input_size() && !node_->input(k).empty(); }
  std::string input_name(int k) const {
    if (!has_input(k)) fail(DEFTNN_FORMAT("input {} is missing (the operator needs it)", k));
    return node_->input(k);
  }
  bool is_const(int k) const { return has_input(k) && consts_.count(node_->input(k)); }
  // The engine tensor of input k, which must be computed (no constant).
  std::string tensor_in(int k) const;
  // The constant of input k (an initializer, a Constant node or a folded value).
  const OnnxValue& const_in(int k, const std::string& what) const;
  // Inference's dims of input k, when known.
  std::optional<Dims> dims_in(int k) const;
  // How many node inputs and graph outputs read the tensor (an ONNX name;
  // for an engine tensor, every ONNX name aliased to it too).
  int readers(const std::string& onnx_name) const {
    auto it = readers_.find(onnx_name);
    return it == readers_.end() ? 0 : it->second;
  }
  // The layer entry that wrote the engine tensor, or null (a graph input).
  json* producer(const std::string& tensor) {
    auto it = producer_.find(tensor);
    return it == producer_.end() ? nullptr : &layers_[it->second];
  }
  // Adds a layer reading `inputs` and writing the node's first output;
  // returns its name (for its parameters).
  std::string add_layer(json spec, const std::vector<std::string>& inputs);
  // The same, writing engine tensor `out` (an intermediate of a node that
  // maps onto two layers) instead of the node's output.
  std::string add_layer_to(json spec, const std::vector<std::string>& inputs, const std::string& out);
  // The node's output 0 is the engine tensor `tensor` (nothing to compute):
  // the output's readers become the tensor's (this node was one of them),
  // so a later fold sees every reader of the buffer it would change.
  void alias_output(const std::string& tensor) {
    const std::string& out = node_->output(0);
    alias_[out] = tensor;
    readers_[tensor] += readers(out) - 1;
    if (graph_outputs_.count(out)) graph_outputs_.insert(tensor);
  }
  void set_const_output(OnnxValue v) { consts_[node_->output(0)] = std::move(v); }
  void set_param(const std::string& layer, const std::string& param, Tensor t) {
    out_.tensors[layer + "." + param] = std::move(t);
  }
  Tensor& param(const std::string& layer, const std::string& param) { return out_.tensors.at(layer + "." + param); }

  // Operators (one per ONNX op type, or a family).
  void conv();
  void batch_norm();
  void relu();
  void leaky_relu();
  void activation();
  void clip();
  void pool();
  void global_pool();
  void flatten();
  void reshape();
  void gemm();
  void matmul();
  void add();
  void concat();
  void softmax();
  void passthrough();
  void lrn();
  void constant();
  void shape_op();
  void gather();
  void unsqueeze_squeeze();
  void cast();
  void layer_norm();
  void gelu();
  void reduce_mean();
  // y = x op c with x a conv's or linear's output (read by nothing else)
  // and c (input const_k) a scalar or per-channel constant: folded into
  // that layer's weight and bias (in double, one fp32 rounding per value).
  enum class Affine { Add, Sub, Mul, Div };
  bool fold_affine(int tensor_k, int const_k, Affine op);

  std::string path_;
  onnx::ModelProto model_;
  int64_t opset_ = 0;
  const onnx::NodeProto* node_ = nullptr;
  size_t node_index_ = 0;
  std::map<std::string, OnnxValue> consts_;  // by ONNX tensor name
  std::map<std::string, Dims> dims_;         // by ONNX tensor name, from shape inference
  std::map<std::string, std::string> alias_; // ONNX tensor -> the engine tensor holding it (Identity, folds)
  std::map<std::string, size_t> producer_;   // engine tensor -> index in layers_
  std::set<std::string> defined_;            // engine tensors written so far (graph inputs, layer outputs)
  std::map<std::string, int> readers_;
  std::map<std::string, size_t> writer_;     // ONNX tensor -> index of the node writing it
  std::set<std::string> graph_outputs_;
  std::set<std::string> layer_names_;
  json inputs_ = json::array(), layers_ = json::array();
  OnnxModel out_;
};

const std::vector<Importer::Op>& Importer::ops() {
  static const std::vector<Op> table = {
      {"Conv", &Importer::conv, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}},
      {"BatchNormalization", &Importer::batch_norm, {"epsilon", "momentum", "training_mode", "spatial"}},
      {"Relu", &Importer::relu, {}},
      {"LeakyRelu", &Importer::leaky_relu, {"alpha"}},
      {"Sigmoid", &Importer::activation, {}},
      {"Tanh", &Importer::activation, {}},
      {"HardSigmoid", &Importer::activation, {"alpha", "beta"}},
      {"HardSwish", &Importer::activation, {}},
      {"Clip", &Importer::clip, {}},
      {"MaxPool", &Importer::pool, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}},
      {"AveragePool", &Importer::pool, {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}},
      {"GlobalAveragePool", &Importer::global_pool, {}},
      {"GlobalMaxPool", &Importer::global_pool, {}},
      {"Flatten", &Importer::flatten, {"axis"}},
      {"Reshape", &Importer::reshape, {"allowzero"}},
      {"Gemm", &Importer::gemm, {"alpha", "beta", "transA", "transB"}},
      {"MatMul", &Importer::matmul, {}},
      {"Add", &Importer::add, {}},
      {"Sub", &Importer::add, {}},
      {"Mul", &Importer::add, {}},
      {"Div", &Importer::add, {}},
      {"Concat", &Importer::concat, {"axis"}},
      {"Softmax", &Importer::softmax, {"axis"}},
      {"Dropout", &Importer::passthrough, {"seed", "ratio", "is_test"}},
      {"Identity", &Importer::passthrough, {}},
      {"LRN", &Importer::lrn, {"alpha", "beta", "bias", "size"}},
      {"Constant", &Importer::constant, {"value", "value_float", "value_floats", "value_int", "value_ints"}},
      {"Shape", &Importer::shape_op, {}},
      {"Gather", &Importer::gather, {"axis"}},
      {"Unsqueeze", &Importer::unsqueeze_squeeze, {"axes"}},
      {"Squeeze", &Importer::unsqueeze_squeeze, {"axes"}},
      {"Cast", &Importer::cast, {"to", "saturate"}},
      {"LayerNormalization", &Importer::layer_norm, {"axis", "epsilon", "stash_type"}},
      {"Gelu", &Importer::gelu, {"approximate"}},
      {"ReduceMean", &Importer::reduce_mean, {"axes", "keepdims", "noop_with_empty_axes"}},
  };
  return table;
}

void Importer::parse_file() {
  const uint64_t size = require_regular_file(path_);
  DEFTNN_CHECK(size <= kMaxModelBytes,
               "{}: {} bytes; protobuf reads models below 2 GiB (larger ones keep their weights as external data)",
               path_, size);
  std::ifstream in(path_, std::ios::binary);
  DEFTNN_CHECK(in.good(), "{}: cannot open for reading", path_);
  std::string bytes(size, '\0');
  in.read(bytes.data(), std::streamsize(size));
  DEFTNN_CHECK(in.good() || size == 0, "{}: read error", path_);
  DEFTNN_CHECK(model_.ParseFromString(bytes),
               "{}: not a valid ONNX model: the protobuf does not parse (truncated or corrupt file)", path_);
  DEFTNN_CHECK(model_.has_graph() && model_.graph().node_size() > 0,
               "{}: not an ONNX model: no graph with nodes (truncated, empty or another kind of file)", path_);
  for (const auto& o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
  DEFTNN_CHECK(opset_ > 0, "{}: no opset for the default ONNX domain in opset_import", path_);
  DEFTNN_CHECK(opset_ >= kMinOpset, "{}: opset {} is not supported (the importer reads opset {} and later)", path_,
               opset_, kMinOpset);
}

// ONNX 1.12's convolution and pooling shape inference (convPoolShapeInference)
// trusts what it reads: a missing kernel_shape is taken from the weight's rank
// and the input's dims are then read by it unchecked (a weight of higher rank
// than the input reads past the end), and a stride of 0 divides by zero; both
// were found by fuzz/fuzz_onnx.cpp. So the copy handed to inference gets
// kernel_shape written out from a constant weight, which ONNX does check
// against the input's rank, and it ends before the first such node whose
// windows are not positive (kernel, strides, dilations >= 1, pads >= 0) or whose
// weight is no initializer: the importer itself refuses those with a message.
void guard_conv_inference(onnx::ModelProto& m) {
  static const std::set<std::string> kWeighted = {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv"};
  static const std::set<std::string> kPooled = {"MaxPool", "AveragePool", "LpPool", "MaxUnpool", "MaxRoiPool"};
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : m.graph().initializer()) inits[t.name()] = &t;
  auto* nodes = m.mutable_graph()->mutable_node();
  for (int i = 0; i < nodes->size(); ++i) {
    onnx::NodeProto& n = (*nodes)[i];
    const bool weighted = kWeighted.count(n.op_type()) > 0;
    if (!weighted && !kPooled.count(n.op_type())) continue;
    bool sane = true, has_kernel = false;
    for (const auto& a : n.attribute()) {
      const int64_t least = a.name() == "pads" ? 0 : 1;
      if (a.name() == "kernel_shape") has_kernel = true;
      if (a.name() == "kernel_shape" || a.name() == "strides" || a.name() == "dilations" || a.name() == "pads")
        for (int64_t v : a.ints()) sane = sane && v >= least && v <= (int64_t(1) << 31);
    }
    if (sane && weighted && !has_kernel) {
      const int w = n.op_type() == "QLinearConv" ? 3 : 1;
      const auto it = n.input_size() > w ? inits.find(n.input(w)) : inits.end();
      sane = it != inits.end() && it->second->dims_size() >= 3;
      if (sane) {
        onnx::AttributeProto* a = n.add_attribute();
        a->set_name("kernel_shape");
        a->set_type(onnx::AttributeProto::INTS);
        for (int d = 2; d < it->second->dims_size(); ++d) a->add_ints(it->second->dims(d));
      }
    }
    if (!sane) {
      nodes->DeleteSubrange(i, nodes->size() - i);
      return;
    }
  }
}

void Importer::infer_shapes() {
  // Shapes help where an operator depends on its input's rank or size
  // (GlobalAveragePool, Softmax, Flatten, Reshape, Shape); the engine infers
  // its own shapes afterwards and checks every layer.
  onnx::ModelProto m = model_;
  guard_conv_inference(m);
  try {
    onnx::shape_inference::InferShapes(m);
  } catch (const std::exception&) {
    // Inference that fails leaves shapes unknown; what needs them says so.
  }
  auto record = [&](const onnx::ValueInfoProto& v) {
    if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
    Dims d;
    for (const auto& dim : v.type().tensor_type().shape().dim())
      d.push_back(dim.has_dim_value() && dim.dim_value() > 0 ? dim.dim_value() : -1);
    dims_[v.name()] = d;
  };
  for (const auto& v : m.graph().input()) record(v);
  for (const auto& v : m.graph().value_info()) record(v);
  for (const auto& v : m.graph().output()) record(v);
}

void Importer::read_graph_inputs() {
  const auto& g = model_.graph();
  for (const auto& init : g.initializer()) {
    DEFTNN_CHECK(!init.name().empty(), "{}: an initializer without a name", path_);
    consts_[init.name()] = decode_tensor(init, path_, DEFTNN_FORMAT("{}: initializer '{}'", path_, init.name()));
  }
  for (const auto& v : g.input()) {
    if (consts_.count(v.name())) continue;  // IR < 4 lists initializers as inputs too
    const std::string what = DEFTNN_FORMAT("{}: graph input '{}'", path_, v.name());
    DEFTNN_CHECK(!v.name().empty() && v.name().size() <= kMaxName, "{}: its name must have 1 to {} characters", what,
                 kMaxName);
    DEFTNN_CHECK(v.type().has_tensor_type() && v.type().tensor_type().has_shape(), "{}: no tensor type with a shape",
                 what);
    const auto& tt = v.type().tensor_type();
    DEFTNN_CHECK(tt.elem_type() == onnx::TensorProto::FLOAT, "{}: element type {}; the engine takes float inputs",
                 what, onnx::TensorProto::DataType_Name(onnx::TensorProto::DataType(tt.elem_type())));
    const auto& dims = tt.shape().dim();
    DEFTNN_CHECK(dims.size() >= 2, "{}: rank {}; the engine needs (batch, ...) of rank 2 or more", what, dims.size());
    json shape = json::array();
    for (int d = 1; d < dims.size(); ++d) {
      DEFTNN_CHECK(dims[d].has_dim_value() && dims[d].dim_value() > 0,
                   "{}: dimension {} is {}; only the batch (dimension 0) may be symbolic", what, d,
                   dims[d].has_dim_param() ? "'" + dims[d].dim_param() + "'" : std::to_string(dims[d].dim_value()));
      shape.push_back(dims[d].dim_value());
    }
    inputs_.push_back({{"name", v.name()}, {"shape", shape}});
    defined_.insert(v.name());
  }
  DEFTNN_CHECK(!inputs_.empty(), "{}: the graph has no input that is not an initializer", path_);
}

std::string Importer::tensor_in(int k) const {
  const std::string name = input_name(k);
  if (consts_.count(name))
    fail(DEFTNN_FORMAT("input {} '{}' is a constant; the engine runs this operator only on computed tensors", k, name));
  auto a = alias_.find(name);
  const std::string t = a == alias_.end() ? name : a->second;
  if (defined_.count(t)) return t;
  auto w = writer_.find(name);
  if (w != writer_.end() && w->second >= node_index_)
    fail(DEFTNN_FORMAT("input '{}' is written by node '{}' at or after this one: the nodes are not in topological "
                       "order, or they form a cycle",
                       name, model_.graph().node(int(w->second)).name()));
  fail(DEFTNN_FORMAT("input '{}' is no graph input, no initializer and no earlier node's output (a missing "
                     "initializer?)",
                     name));
}

const OnnxValue& Importer::const_in(int k, const std::string& what) const {
  const std::string name = input_name(k);
  auto it = consts_.find(name);
  if (it != consts_.end()) return it->second;
  if (writer_.count(name) || defined_.count(name))
    fail(DEFTNN_FORMAT("{} '{}' is computed at run time; the importer needs it constant (an initializer)", what, name));
  fail(DEFTNN_FORMAT("{} '{}' is missing: no initializer, Constant or graph input has that name", what, name));
}

std::optional<Dims> Importer::dims_in(int k) const {
  auto it = dims_.find(input_name(k));
  if (it == dims_.end()) return std::nullopt;
  return it->second;
}

std::string Importer::add_layer(json spec, const std::vector<std::string>& inputs) {
  return add_layer_to(std::move(spec), inputs, node_->output(0));
}

std::string Importer::add_layer_to(json spec, const std::vector<std::string>& inputs, const std::string& out) {
  std::string base = sanitize(node_->name());
  if (base.empty()) base = sanitize(node_->op_type()) + std::to_string(node_index_);
  std::string name = base;
  for (int k = 2; layer_names_.count(name); ++k) name = base + "_" + std::to_string(k);
  layer_names_.insert(name);
  if (out.empty() || out.size() > kMaxName) fail(DEFTNN_FORMAT("output name of {} characters (1 to {})", out.size(), kMaxName));
  spec["name"] = name;
  spec["inputs"] = inputs;
  spec["outputs"] = {out};
  producer_[out] = layers_.size();
  defined_.insert(out);
  layers_.push_back(std::move(spec));
  return name;
}

void Importer::import_node(size_t i) {
  node_index_ = i;
  node_ = &model_.graph().node(int(i));
  const std::string& type = node_->op_type();
  if (!node_->domain().empty() && node_->domain() != "ai.onnx")
    fail(DEFTNN_FORMAT("operator domain '{}' is not supported (only the default ONNX domain)", node_->domain()));
  if (node_->output_size() < 1 || node_->output(0).empty()) fail("the node has no output");
  for (int k = 1; k < node_->output_size(); ++k)
    if (!node_->output(k).empty() && readers(node_->output(k)) > 0)
      fail(DEFTNN_FORMAT("output {} '{}' is read, but the importer computes only the first output", k,
                         node_->output(k)));
  for (const Op& op : ops()) {
    if (type != op.type) continue;
    for (const auto& a : node_->attribute())
      if (!op.attrs.count(a.name())) {
        std::string known;
        for (const auto& k : op.attrs) known += (known.empty() ? "" : ", ") + k;
        fail(DEFTNN_FORMAT("attribute '{}' is not supported (known: {})", a.name(), known.empty() ? "none" : known));
      }
    (this->*op.handle)();
    return;
  }
  std::string known;
  for (const Op& op : ops()) known += std::string(known.empty() ? "" : ", ") + op.type;
  fail(DEFTNN_FORMAT("operator '{}' is not supported (supported: {})", type, known));
}

// ---- operators -------------------------------------------------------------

void Importer::conv() {
  const std::string x = tensor_in(0);
  const OnnxValue& w = const_in(1, "weight");
  if (w.shape.size() != 4)
    fail(DEFTNN_FORMAT("weight of rank {} {}: only 2-D convolutions (a weight of rank 4) are supported",
                       w.shape.size(), shape_str(w.shape)));
  if (w.is_int) fail("an integer weight");
  const std::string auto_pad = attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID")
    fail(DEFTNN_FORMAT("auto_pad '{}' is not supported (NOTSET with explicit pads, or VALID)", auto_pad));
  const Dims dil = attr_ints("dilations", {1, 1});
  if (dil.size() != 2 || dil[0] != 1 || dil[1] != 1)
    fail(DEFTNN_FORMAT("dilations {} are not supported (the engine's conv has no dilation)", dims_str(dil)));
  const Dims st = attr_ints("strides", {1, 1});
  if (st.size() != 2 || st[0] < 1 || st[1] < 1) fail(DEFTNN_FORMAT("strides {} must be 2 positive integers", dims_str(st)));
  const Dims pads = attr_ints("pads", {0, 0, 0, 0});
  if (pads.size() != 4 || pads[0] < 0 || pads[1] < 0)
    fail(DEFTNN_FORMAT("pads {} must be 4 non-negative integers", dims_str(pads)));
  if (pads[0] != pads[2] || pads[1] != pads[3])
    fail(DEFTNN_FORMAT("asymmetric pads {} (begin, begin, end, end) are not supported", dims_str(pads)));
  const Dims ks = attr_ints("kernel_shape", {w.shape[2], w.shape[3]});
  if (ks != Dims{w.shape[2], w.shape[3]})
    fail(DEFTNN_FORMAT("kernel_shape {} does not match the weight {}", dims_str(ks), shape_str(w.shape)));
  const int64_t groups = attr_int("group", 1);
  if (groups < 1 || w.shape[0] % groups) fail(DEFTNN_FORMAT("group {} does not divide the {} output channels", groups, w.shape[0]));
  if (auto d = dims_in(0); d && d->size() != 4)
    fail(DEFTNN_FORMAT("input '{}' of rank {} {}; Conv needs (N, C, H, W)", node_->input(0), d->size(), dims_str(*d)));
  json spec = {{"type", "conv"},       {"out", w.shape[0]},     {"kernel", {w.shape[2], w.shape[3]}},
               {"stride", {st[0], st[1]}}, {"pad", {pads[0], pads[1]}}, {"groups", groups}};
  Tensor bias = Tensor::empty({w.shape[0]});
  if (has_input(2)) {
    const OnnxValue& b = const_in(2, "bias");
    if (b.numel() != w.shape[0]) fail(DEFTNN_FORMAT("bias {} for {} output channels", shape_str(b.shape), w.shape[0]));
    bias = to_f32(b).reshape({w.shape[0]});
  } else {
    std::fill(bias.data<float>(), bias.data<float>() + w.shape[0], 0.f);  // a BatchNormalization may fold into it
  }
  const std::string name = add_layer(spec, {x});
  set_param(name, "weight", to_f32(w));
  set_param(name, "bias", bias);
}

void Importer::batch_norm() {
  if (attr_int("training_mode", 0) != 0) fail("training_mode 1 is not supported (inference only)");
  const std::string x = tensor_in(0);
  const double eps = attr_float("epsilon", 1e-5);
  const OnnxValue *p[4];
  const char* names[4] = {"scale", "B", "mean", "var"};
  for (int k = 0; k < 4; ++k) {
    p[k] = &const_in(k + 1, names[k]);
    if (p[k]->shape.size() != 1 || p[k]->numel() != p[0]->numel())
      fail(DEFTNN_FORMAT("'{}' of shape {}; all four must be (C) with C = {}", names[k], shape_str(p[k]->shape),
                         p[0]->numel()));
  }
  const int64_t c = p[0]->numel();
  json* prev = producer(x);
  if (prev && (*prev)["type"] == "conv" && readers(x) == 1 && !graph_outputs_.count(x) &&
      (*prev)["out"].get<int64_t>() == c) {
    // Folded into the conv: W'[m] = W[m] s[m], b'[m] = (b[m] - mean[m]) s[m] + beta[m], s = gamma / sqrt(var + eps),
    // in double so the fold adds one fp32 rounding per value.
    const std::string conv = (*prev)["name"];
    Tensor& w = param(conv, "weight");
    Tensor& b = param(conv, "bias");
    const int64_t per = w.numel() / c;
    for (int64_t m = 0; m < c; ++m) {
      const double s = p[0]->at(m) / std::sqrt(p[3]->at(m) + eps);
      float* wm = w.data<float>() + m * per;
      for (int64_t k = 0; k < per; ++k) wm[k] = float(double(wm[k]) * s);
      b.data<float>()[m] = float((double(b.data<float>()[m]) - p[2]->at(m)) * s + p[1]->at(m));
    }
    alias_output(x);
    return;
  }
  if (!(eps > 0 && eps <= 1)) fail(DEFTNN_FORMAT("epsilon {} outside (0, 1]", eps));
  const std::string name = add_layer({{"type", "batchnorm"}, {"eps", eps}}, {x});
  set_param(name, "weight", to_f32(*p[0]));
  set_param(name, "bias", to_f32(*p[1]));
  set_param(name, "running_mean", to_f32(*p[2]));
  set_param(name, "running_var", to_f32(*p[3]));
}

void Importer::relu() { add_layer({{"type", "relu"}}, {tensor_in(0)}); }

void Importer::leaky_relu() {
  add_layer({{"type", "relu"}, {"negative_slope", attr_float("alpha", 0.01)}}, {tensor_in(0)});
}

void Importer::activation() {
  const std::string& op = node_->op_type();
  json spec = {{"type", "activation"}};
  if (op == "Sigmoid") spec["kind"] = "sigmoid";
  else if (op == "Tanh") spec["kind"] = "tanh";
  else if (op == "HardSwish") spec["kind"] = "hardswish";
  else spec.update({{"kind", "hardsigmoid"}, {"alpha", attr_float("alpha", 0.2)}, {"beta", attr_float("beta", 0.5)}});
  add_layer(spec, {tensor_in(0)});
}

void Importer::clip() {
  const std::string x = tensor_in(0);
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  auto bound = [&](int k, const char* what, double& v) {
    if (!has_input(k)) return;
    const OnnxValue& c = const_in(k, what);
    if (c.numel() != 1) fail(DEFTNN_FORMAT("'{}' of shape {}; a scalar is needed", what, shape_str(c.shape)));
    v = c.at(0);
  };
  bound(1, "min", lo);
  bound(2, "max", hi);
  if (lo == 0 && std::isinf(hi) && hi > 0) {
    add_layer({{"type", "relu"}}, {x});
    return;
  }
  constexpr double kFloatMax = 3.4e38;  // the clip layer's range; beyond it an fp32 clamp changes nothing
  if (!(lo <= hi)) fail(DEFTNN_FORMAT("min {} is above max {}", lo, hi));
  add_layer({{"type", "clip"}, {"min", std::max(lo, -kFloatMax)}, {"max", std::min(hi, kFloatMax)}}, {x});
}

void Importer::pool() {
  const bool max = node_->op_type() == "MaxPool";
  const std::string x = tensor_in(0);
  const std::string auto_pad = attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID")
    fail(DEFTNN_FORMAT("auto_pad '{}' is not supported (NOTSET with explicit pads, or VALID)", auto_pad));
  const Dims ks = attr_ints("kernel_shape", {});
  if (ks.size() != 2) fail(DEFTNN_FORMAT("kernel_shape {} must have 2 entries (2-D pooling)", dims_str(ks)));
  if (ks[0] != ks[1]) fail(DEFTNN_FORMAT("kernel_shape {} is not square; the engine's pools are", dims_str(ks)));
  const Dims st = attr_ints("strides", {1, 1});
  if (st.size() != 2 || st[0] != st[1]) fail(DEFTNN_FORMAT("strides {} must be two equal integers", dims_str(st)));
  const Dims pads = attr_ints("pads", {0, 0, 0, 0});
  if (pads.size() != 4 || pads[1] != pads[0] || pads[2] != pads[0] || pads[3] != pads[0])
    fail(DEFTNN_FORMAT("pads {} must be 4 equal integers (the engine pads every side alike)", dims_str(pads)));
  const Dims dil = attr_ints("dilations", {1, 1});
  if (dil != Dims{1, 1}) fail(DEFTNN_FORMAT("dilations {} are not supported", dims_str(dil)));
  if (attr_int("storage_order", 0) != 0) fail("storage_order 1 is not supported");
  const bool ceil = attr_int("ceil_mode", 0) != 0;
  if (!max && pads[0] > 0 && attr_int("count_include_pad", 0) == 0)
    fail("count_include_pad 0 with padding is not supported (the engine divides by the whole window, "
         "count_include_pad 1)");
  add_layer({{"type", max ? "maxpool" : "avgpool"},
             {"kernel", ks[0]},
             {"stride", st[0]},
             {"pad", pads[0]},
             {"ceil", ceil}},
            {x});
}

void Importer::global_pool() {
  const std::string x = tensor_in(0);
  const auto d = dims_in(0);
  if (!d || d->size() != 4 || (*d)[2] < 0 || (*d)[3] < 0)
    fail(DEFTNN_FORMAT("the input's spatial size is {}; a (N, C, H, W) input of known H and W is needed",
                       d ? dims_str(*d) : std::string("unknown")));
  if ((*d)[2] != (*d)[3])
    fail(DEFTNN_FORMAT("input {} is not square; the engine's pools have square windows", dims_str(*d)));
  add_layer({{"type", node_->op_type() == "GlobalMaxPool" ? "maxpool" : "avgpool"}, {"kernel", (*d)[2]}, {"stride", 1}},
            {x});
}

void Importer::flatten() {
  const std::string x = tensor_in(0);
  int64_t axis = attr_int("axis", 1);
  const auto d = dims_in(0);
  if (axis < 0 && d) axis += int64_t(d->size());
  if (axis != 1) fail(DEFTNN_FORMAT("axis {} is not supported (only 1: (N, features))", attr_int("axis", 1)));
  add_layer({{"type", "flatten"}}, {x});
}

void Importer::reshape() {
  if (attr_int("allowzero", 0) != 0) fail("allowzero 1 is not supported");
  const std::string x = tensor_in(0);
  const OnnxValue& s = const_in(1, "shape");
  if (!s.is_int) fail("the target shape is not an integer tensor");
  const Dims t = s.ints;
  const auto d = dims_in(0);
  // (N, features) is what the engine's flatten does; the batch is written 0
  // (copy), -1 (inferred), folded from a Shape, or 1 when the input's batch is 1.
  bool ok = t.size() == 2;
  if (ok) {
    const bool batch = t[0] == 0 || t[0] == kBatchDim || (t[0] == -1 && t[1] > 0) ||
                       (t[0] == 1 && d && !d->empty() && (*d)[0] == 1);
    int64_t features = 1;
    bool known = d.has_value() && d->size() >= 2;
    for (size_t k = 1; known && k < d->size(); ++k) {
      known = (*d)[k] > 0;
      features *= known ? (*d)[k] : 1;
    }
    ok = batch && (t[1] == -1 || (known && t[1] == features) || (!known && t[1] > 0 && t[0] == -1));
  }
  if (!ok) {
    std::string target;
    for (int64_t v : t) target += (target.empty() ? "" : ", ") + (v == kBatchDim ? std::string("N") : std::to_string(v));
    fail(DEFTNN_FORMAT("Reshape of {} to [{}] is not supported (only flattening to (N, features))",
                       d ? dims_str(*d) : std::string("a tensor of unknown shape"), target));
  }
  add_layer({{"type", "flatten"}}, {x});
}

void Importer::gemm() {
  const std::string x = tensor_in(0);
  if (attr_int("transA", 0) != 0) fail("transA 1 is not supported");
  const OnnxValue& b = const_in(1, "B (the weight)");
  if (b.shape.size() != 2) fail(DEFTNN_FORMAT("weight B of rank {} {}; Gemm needs rank 2", b.shape.size(), shape_str(b.shape)));
  if (auto d = dims_in(0); d && d->size() != 2)
    fail(DEFTNN_FORMAT("input '{}' of rank {} {}; Gemm needs (N, K)", node_->input(0), d->size(), dims_str(*d)));
  const bool trans_b = attr_int("transB", 0) != 0;
  const double alpha = attr_float("alpha", 1.0), beta = attr_float("beta", 1.0);
  const int64_t n = trans_b ? b.shape[0] : b.shape[1], k = trans_b ? b.shape[1] : b.shape[0];
  // The linear layer's weight is (out, in): B itself when transB, else B^T; alpha scales it.
  Tensor w = Tensor::empty({n, k});
  for (int64_t o = 0; o < n; ++o)
    for (int64_t i = 0; i < k; ++i)
      w.data<float>()[o * k + i] = float(alpha * b.at(trans_b ? o * k + i : i * n + o));
  Tensor bias = Tensor::empty({n});
  for (int64_t o = 0; o < n; ++o) bias.data<float>()[o] = 0.f;
  if (has_input(2)) {
    const OnnxValue& c = const_in(2, "C (the bias)");
    if (c.numel() != n && c.numel() != 1)
      fail(DEFTNN_FORMAT("bias C of shape {} does not broadcast to ({}) per output", shape_str(c.shape), n));
    for (int64_t o = 0; o < n; ++o) bias.data<float>()[o] = float(beta * c.at(c.numel() == 1 ? 0 : o));
  }
  const std::string name = add_layer({{"type", "linear"}, {"out", n}}, {x});
  set_param(name, "weight", w);
  set_param(name, "bias", bias);
}

void Importer::matmul() {
  if (is_const(0)) fail("input 0 is a constant; only MatMul(x, constant weight) is supported");
  const std::string x = tensor_in(0);
  const OnnxValue& b = const_in(1, "the weight (input 1)");
  if (b.shape.size() != 2)
    fail(DEFTNN_FORMAT("weight of rank {} {}; MatMul with a constant (K, N) weight is supported", b.shape.size(),
                       shape_str(b.shape)));
  if (auto d = dims_in(0); d && d->size() != 2 && d->size() != 3)
    fail(DEFTNN_FORMAT("input '{}' of rank {} {}; (N, K) or (N, T, K) is supported", node_->input(0), d->size(),
                       dims_str(*d)));
  const int64_t k = b.shape[0], n = b.shape[1];
  Tensor w = Tensor::empty({n, k});
  for (int64_t o = 0; o < n; ++o)
    for (int64_t i = 0; i < k; ++i) w.data<float>()[o * k + i] = float(b.at(i * n + o));
  Tensor bias = Tensor::empty({n});
  for (int64_t o = 0; o < n; ++o) bias.data<float>()[o] = 0.f;  // an Add after it may fold into it
  const std::string name = add_layer({{"type", "linear"}, {"out", n}}, {x});
  set_param(name, "weight", w);
  set_param(name, "bias", bias);
}

bool Importer::fold_affine(int tensor_k, int const_k, Affine op) {
  const std::string x = tensor_in(tensor_k);
  json* prev = producer(x);
  if (!prev || readers(x) != 1 || graph_outputs_.count(x)) return false;
  const std::string type = (*prev)["type"];
  if (type != "conv" && type != "linear") return false;
  const OnnxValue& c = consts_.at(node_->input(const_k));
  const int64_t out = (*prev)["out"];
  // A scalar, or per output channel: (C, 1, 1) or (1, C, 1, 1) after a conv,
  // (C) or (1, C) after a linear.
  int64_t channel_axis = -1;  // counted from the end
  for (size_t k = 0; k < c.shape.size(); ++k)
    if (c.shape[k] != 1) channel_axis = channel_axis == -1 ? int64_t(c.shape.size() - k) : -2;
  const size_t want = type == "conv" ? 3 : 1;
  const bool scalar = c.numel() == 1 && c.shape.size() <= want;
  if (!scalar && !(c.numel() == out && channel_axis == int64_t(want))) return false;
  if (op == Affine::Div)
    for (int64_t m = 0; m < c.numel(); ++m)
      if (c.at(m) == 0) fail("division by a constant holding 0");
  Tensor& w = param((*prev)["name"], "weight");
  Tensor& b = param((*prev)["name"], "bias");
  const int64_t per = w.numel() / out;
  for (int64_t m = 0; m < out; ++m) {
    const double v = c.at(scalar ? 0 : m);
    double scale = 1, shift = 0;
    switch (op) {
      case Affine::Add: shift = v; break;
      case Affine::Sub: shift = -v; break;
      case Affine::Mul: scale = v; break;
      case Affine::Div: scale = 1 / v; break;
    }
    float* wm = w.data<float>() + m * per;
    for (int64_t k = 0; k < per; ++k) wm[k] = float(double(wm[k]) * scale);
    b.data<float>()[m] = float(double(b.data<float>()[m]) * scale + shift);
  }
  alias_output(x);
  return true;
}

void Importer::add() {
  const std::string& type = node_->op_type();
  const Affine op = type == "Add" ? Affine::Add : type == "Sub" ? Affine::Sub : type == "Mul" ? Affine::Mul : Affine::Div;
  const bool c0 = is_const(0), c1 = is_const(1);
  if (c0 && c1) fail("both inputs are constants; constant folding of arithmetic is not supported");
  if (c0 || c1) {
    if (c0 && (op == Affine::Sub || op == Affine::Div)) fail(DEFTNN_FORMAT("constant {} tensor is not supported", type));
    if (fold_affine(c0 ? 1 : 0, c0 ? 0 : 1, op)) return;
    const OnnxValue& c = consts_.at(node_->input(c0 ? 0 : 1));
    fail(DEFTNN_FORMAT("{} of a constant {} is supported only as a scalar or per-channel constant folded into the "
                       "Conv, Gemm or MatMul right before it (whose output nothing else reads)",
                       type, shape_str(c.shape)));
  }
  if (op != Affine::Add) fail(DEFTNN_FORMAT("{} of two computed tensors is not supported", type));
  const auto a = dims_in(0), b = dims_in(1);
  if (a && b && *a != *b)
    fail(DEFTNN_FORMAT("broadcasting Add of {} and {} is not supported (the inputs must have one shape)", dims_str(*a),
                       dims_str(*b)));
  add_layer({{"type", "add"}}, {tensor_in(0), tensor_in(1)});
}

void Importer::concat() {
  int64_t axis = attr_int("axis", 0);
  bool all_const = true;
  for (int k = 0; k < node_->input_size(); ++k) all_const = all_const && is_const(k);
  if (all_const) {  // shapes being computed: 1-D integer constants joined
    OnnxValue v;
    v.is_int = true;
    for (int k = 0; k < node_->input_size(); ++k) {
      const OnnxValue& c = consts_.at(node_->input(k));
      if (!c.is_int || c.shape.size() != 1) fail("constant folding joins only 1-D integer tensors");
      v.ints.insert(v.ints.end(), c.ints.begin(), c.ints.end());
    }
    v.shape = {int64_t(v.ints.size())};
    set_const_output(std::move(v));
    return;
  }
  std::vector<std::string> xs;
  for (int k = 0; k < node_->input_size(); ++k) xs.push_back(tensor_in(k));
  const auto d = dims_in(0);
  if (axis < 0) {
    if (!d) fail(DEFTNN_FORMAT("axis {} of an input of unknown rank", axis));
    axis += int64_t(d->size());
  }
  if (axis < 1) fail(DEFTNN_FORMAT("axis {} is not supported (the batch, axis 0, cannot be joined)", attr_int("axis", 0)));
  add_layer({{"type", "concat"}, {"axis", axis}}, xs);
}

void Importer::softmax() {
  const std::string x = tensor_in(0);
  const auto d = dims_in(0);
  int64_t axis = attr_int("axis", -1);
  if (!d) fail("the input's rank is unknown (shape inference gave none); Softmax needs it for its axis");
  const int64_t rank = int64_t(d->size());
  if (axis < 0) axis += rank;
  bool ok = axis == 1;
  for (int64_t k = 2; ok && k < rank; ++k) ok = (*d)[size_t(k)] == 1;
  if (!ok)
    fail(DEFTNN_FORMAT("Softmax over axis {} of {} is not supported (only over the features of (N, C), trailing "
                       "dimensions of 1 allowed)",
                       attr_int("axis", -1), dims_str(*d)));
  add_layer({{"type", "softmax"}}, {x});
}

void Importer::passthrough() {
  if (node_->op_type() == "Dropout" && has_input(2)) {
    const OnnxValue& t = const_in(2, "training_mode");
    if (t.numel() != 1 || t.at(0) != 0) fail("training_mode true is not supported (inference only)");
  }
  if (is_const(0)) {
    set_const_output(consts_.at(node_->input(0)));
    return;
  }
  alias_output(tensor_in(0));
}

void Importer::lrn() {
  const int64_t size = attr_int("size", 0);
  if (size < 1 || size % 2 == 0) fail(DEFTNN_FORMAT("size {} is not supported (an odd window, as Caffe's)", size));
  add_layer({{"type", "lrn"},
             {"local_size", size},
             {"alpha", attr_float("alpha", 1e-4)},
             {"beta", attr_float("beta", 0.75)},
             {"k", attr_float("bias", 1.0)}},
            {tensor_in(0)});
}

void Importer::constant() {
  const std::string what = DEFTNN_FORMAT("{}: node '{}' (Constant)", path_, node_->name());
  OnnxValue v;
  if (const auto* a = attr("value")) {
    v = decode_tensor(a->t(), path_, what);
  } else if (const auto* f = attr("value_float")) {
    v.floats = {f->f()};
  } else if (const auto* fs = attr("value_floats")) {
    v.floats.assign(fs->floats().begin(), fs->floats().end());
    v.shape = {int64_t(v.floats.size())};
  } else if (const auto* i = attr("value_int")) {
    v.is_int = true;
    v.ints = {i->i()};
  } else if (const auto* is = attr("value_ints")) {
    v.is_int = true;
    v.ints.assign(is->ints().begin(), is->ints().end());
    v.shape = {int64_t(v.ints.size())};
  } else {
    fail("no value attribute (value, value_float(s), value_int(s))");
  }
  set_const_output(std::move(v));
}

void Importer::shape_op() {
  if (attr("start") || attr("end")) fail("start / end are not supported");
  const std::string x = input_name(0);
  auto a = alias_.find(x);
  const auto d = dims_in(0);
  if (!d) fail(DEFTNN_FORMAT("the shape of '{}' is unknown to shape inference", a == alias_.end() ? x : a->second));
  OnnxValue v;
  v.is_int = true;
  v.shape = {int64_t(d->size())};
  for (size_t k = 0; k < d->size(); ++k) {
    if (k > 0 && (*d)[k] < 0) fail(DEFTNN_FORMAT("dimension {} of {} is not known", k, dims_str(*d)));
    v.ints.push_back(k == 0 && (*d)[0] < 0 ? kBatchDim : (*d)[k]);
  }
  set_const_output(std::move(v));
}

void Importer::gather() {
  if (!is_const(0)) fail("Gather of a computed tensor is not supported (only of constants, as in shape computations)");
  const OnnxValue& data = consts_.at(node_->input(0));
  const OnnxValue& idx = const_in(1, "indices");
  if (attr_int("axis", 0) != 0 || data.shape.size() != 1 || !idx.is_int || idx.shape.size() > 1)
    fail("constant folding of Gather takes a 1-D tensor, axis 0 and scalar or 1-D indices");
  OnnxValue v;
  v.is_int = data.is_int;
  v.shape = idx.shape;
  for (int64_t i : idx.ints) {
    if (i < 0) i += data.numel();
    if (i < 0 || i >= data.numel()) fail(DEFTNN_FORMAT("index {} out of range for {} elements", i, data.numel()));
    if (v.is_int) v.ints.push_back(data.ints[size_t(i)]);
    else v.floats.push_back(data.floats[size_t(i)]);
  }
  set_const_output(std::move(v));
}

void Importer::unsqueeze_squeeze() {
  if (!is_const(0) && node_->op_type() == "Squeeze") {
    // (N, C, 1, 1) -> (N, C) after a global pool: the engine's flatten.
    const auto d = dims_in(0);
    Dims axes = has_input(1) ? const_in(1, "axes").ints : attr_ints("axes", {});
    bool ok = d && d->size() >= 3;
    for (size_t k = 2; ok && k < d->size(); ++k) ok = (*d)[k] == 1;
    std::set<int64_t> want, got;
    for (size_t k = 2; ok && k < d->size(); ++k) want.insert(int64_t(k));
    for (int64_t a : axes) got.insert(d && a < 0 ? a + int64_t(d->size()) : a);
    if (!ok || !(axes.empty() || got == want))
      fail(DEFTNN_FORMAT("Squeeze of {} (axes {}) is not supported (only (N, C, 1, ...) to (N, C))",
                         d ? dims_str(*d) : std::string("a tensor of unknown shape"), dims_str(axes)));
    add_layer({{"type", "flatten"}}, {tensor_in(0)});
    return;
  }
  if (!is_const(0))
    fail(DEFTNN_FORMAT("{} of a computed tensor is not supported (only of constants, as in shape computations)",
                       node_->op_type()));
  OnnxValue v = consts_.at(node_->input(0));
  Dims axes = has_input(1) ? const_in(1, "axes").ints : attr_ints("axes", {});
  if (node_->op_type() == "Unsqueeze") {
    const int64_t rank = int64_t(v.shape.size() + axes.size());
    for (int64_t& a : axes) a = a < 0 ? a + rank : a;
    std::sort(axes.begin(), axes.end());
    for (int64_t a : axes) {
      if (a < 0 || a > int64_t(v.shape.size())) fail(DEFTNN_FORMAT("axis {} out of range", a));
      v.shape.insert(v.shape.begin() + a, 1);
    }
  } else {
    Shape kept;
    for (size_t k = 0; k < v.shape.size(); ++k) {
      bool drop = axes.empty() ? v.shape[k] == 1 : false;
      for (int64_t a : axes) drop = drop || a == int64_t(k) || a + int64_t(v.shape.size()) == int64_t(k);
      if (!drop) kept.push_back(v.shape[k]);
    }
    v.shape = kept;
  }
  set_const_output(std::move(v));
}

void Importer::cast() {
  if (!is_const(0)) {
    // A Cast of a computed tensor to float is the identity for the engine's float tensors.
    if (attr_int("to", 0) != onnx::TensorProto::FLOAT) fail("Cast of a computed tensor to a type other than float");
    alias_output(tensor_in(0));
    return;
  }
  OnnxValue v = consts_.at(node_->input(0));
  const int64_t to = attr_int("to", 0);
  const bool to_int = to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32;
  if (!to_int && to != onnx::TensorProto::FLOAT && to != onnx::TensorProto::DOUBLE)
    fail(DEFTNN_FORMAT("Cast to type {} is not supported", to));
  if (to_int && !v.is_int) {
    for (float f : v.floats) v.ints.push_back(int64_t(f));
    v.floats.clear();
  } else if (!to_int && v.is_int) {
    for (int64_t i : v.ints) v.floats.push_back(float(i));
    v.ints.clear();
  }
  v.is_int = to_int;
  set_const_output(std::move(v));
}

void Importer::layer_norm() {
  const std::string x = tensor_in(0);
  const auto d = dims_in(0);
  int64_t axis = attr_int("axis", -1);
  if (axis >= 0 && d) axis -= int64_t(d->size());
  if (axis != -1) fail(DEFTNN_FORMAT("axis {} is not supported (only the last dimension)", attr_int("axis", -1)));
  const double eps = attr_float("epsilon", 1e-5);
  if (!(eps > 0 && eps <= 1)) fail(DEFTNN_FORMAT("epsilon {} outside (0, 1]", eps));
  const OnnxValue& scale = const_in(1, "Scale");
  if (scale.shape.size() != 1) fail(DEFTNN_FORMAT("Scale of shape {}; (H) is needed", shape_str(scale.shape)));
  Tensor bias = Tensor::empty({scale.numel()});
  std::fill(bias.data<float>(), bias.data<float>() + scale.numel(), 0.f);
  if (has_input(2)) {
    const OnnxValue& b = const_in(2, "B");
    if (b.numel() != scale.numel()) fail(DEFTNN_FORMAT("B of shape {} for Scale {}", shape_str(b.shape), shape_str(scale.shape)));
    bias = to_f32(b).reshape({scale.numel()});
  }
  const std::string name = add_layer({{"type", "layernorm"}, {"eps", eps}}, {x});
  set_param(name, "weight", to_f32(scale));
  set_param(name, "bias", bias);
}

void Importer::gelu() {
  const std::string approx = attr_string("approximate", "none");
  if (approx != "none") fail(DEFTNN_FORMAT("approximate '{}' is not supported (the exact GELU, 'none')", approx));
  add_layer({{"type", "gelu"}}, {tensor_in(0)});
}

void Importer::reduce_mean() {
  // The mean over H and W of (N, C, H, W), as some exporters write a global
  // average pool: the engine's avgpool over the plane (and a flatten when
  // keepdims is 0).
  const std::string x = tensor_in(0);
  const auto d = dims_in(0);
  Dims axes = has_input(1) ? const_in(1, "axes").ints : attr_ints("axes", {});
  std::set<int64_t> got;
  for (int64_t a : axes) got.insert(d && a < 0 ? a + int64_t(d->size()) : a);
  if (!d || d->size() != 4 || got != std::set<int64_t>{2, 3} || (*d)[2] < 0 || (*d)[2] != (*d)[3])
    fail(DEFTNN_FORMAT("ReduceMean of {} over axes {} is not supported (only over H and W of a square (N, C, H, W))",
                       d ? dims_str(*d) : std::string("a tensor of unknown shape"), dims_str(axes)));
  const json pool = {{"type", "avgpool"}, {"kernel", (*d)[2]}, {"stride", 1}};
  if (attr_int("keepdims", 1) != 0) {
    add_layer(pool, {x});
    return;
  }
  const std::string pooled = node_->output(0) + "__pooled";
  add_layer_to(pool, {x}, pooled);
  add_layer({{"type", "flatten"}}, {pooled});
}

OnnxModel Importer::run() {
  parse_file();
  infer_shapes();
  const auto& g = model_.graph();
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& in : g.node(i).input())
      if (!in.empty()) ++readers_[in];
    for (const auto& o : g.node(i).output())
      if (!o.empty()) writer_.emplace(o, size_t(i));
  }
  for (const auto& o : g.output()) {
    ++readers_[o.name()];
    graph_outputs_.insert(o.name());
  }
  DEFTNN_CHECK(g.output_size() > 0, "{}: the graph declares no output", path_);
  read_graph_inputs();
  for (int i = 0; i < g.node_size(); ++i) import_node(size_t(i));

  json outputs = json::array();
  for (const auto& o : g.output()) {
    DEFTNN_CHECK(!consts_.count(o.name()), "{}: graph output '{}' is a constant; the engine computes its outputs",
                 path_, o.name());
    auto a = alias_.find(o.name());
    const std::string t = a == alias_.end() ? o.name() : a->second;
    DEFTNN_CHECK(defined_.count(t), "{}: graph output '{}' is written by no node", path_, o.name());
    outputs.push_back(t);
  }
  DEFTNN_CHECK(!layers_.empty(), "{}: the graph computes nothing the engine runs (every node was folded or an identity)",
               path_);
  std::string name = sanitize(g.name());
  if (name.empty()) name = "onnx";
  out_.graph = {{"name", name},
                {"notes", DEFTNN_FORMAT("imported from ONNX ({}{}{}, opset {})", model_.producer_name(),
                                        model_.producer_version().empty() ? "" : " ", model_.producer_version(),
                                        opset_)},
                {"inputs", inputs_},
                {"outputs", outputs},
                {"layers", layers_}};
  return std::move(out_);
}

}  // namespace

OnnxModel import_onnx(const std::string& path) { return Importer(path).run(); }

bool is_onnx_path(const std::string& path) {
  const std::string ext = ".onnx";
  return path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}

}  // namespace deftnn::onnx_import
