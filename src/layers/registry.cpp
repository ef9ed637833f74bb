// The layer registry: one explicit table from graph-file type to factory.
#include <algorithm>

#include "layers/activation.h"
#include "layers/add.h"
#include "layers/attention.h"
#include "layers/batchnorm.h"
#include "layers/clip.h"
#include "layers/concat.h"
#include "layers/dropout.h"
#include "layers/embedding.h"
#include "layers/flatten.h"
#include "layers/gelu.h"
#include "layers/l2norm.h"
#include "layers/layernorm.h"
#include "layers/layer.h"
#include "layers/layer_util.h"
#include "layers/lrn.h"
#include "layers/meanpool.h"
#include "layers/pool.h"
#include "layers/relu.h"
#include "layers/softmax.h"
#include "layers/split.h"
#if __has_include("layers/conv.h")
#include "layers/conv.h"
#endif
#if __has_include("layers/linear.h")
#include "layers/linear.h"
#endif

namespace deftnn {

namespace {

struct Entry {
  const char* type;
  std::unique_ptr<Layer> (*make)(const nlohmann::json&);
};

const Entry kLayerTable[] = {
#if __has_include("layers/conv.h")
    {"conv", make_conv},
#endif
#if __has_include("layers/linear.h")
    {"linear", make_linear},
#endif
    {"relu", make_relu},
    {"clip", make_clip},
    {"activation", make_activation},
    {"maxpool", make_maxpool},
    {"avgpool", make_avgpool},
    {"lrn", make_lrn},
    {"dropout", make_dropout},
    {"flatten", make_flatten},
    {"batchnorm", make_batchnorm},
    {"softmax", make_softmax},
    {"add", make_add},
    {"concat", make_concat},
    {"split", make_split},
    {"layernorm", make_layernorm},
    {"gelu", make_gelu},
    {"l2norm", make_l2norm},
    {"meanpool", make_meanpool},
    {"embedding", make_embedding},
    {"attention", make_attention},
};

}  // namespace

std::vector<std::string> known_layer_types() {
  std::vector<std::string> types;
  for (const Entry& e : kLayerTable) types.push_back(e.type);
  return types;
}

const char* layout_name(Layout l) { return l == Layout::CNHW ? "CNHW" : "NCHW"; }

void Layer::forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& a) {
  DEFTNN_CHECK(a.in == Layout::NCHW && a.out == Layout::NCHW && !a.defer && !a.pending.active(),
               "layer '{}' ({}) cannot run with layouts {} -> {}{}{}", name(), type(), layout_name(a.in),
               layout_name(a.out), a.defer ? ", a deferred epilogue" : "",
               a.pending.active() ? ", a pending bias/ReLU" : "");
  if (a.relu)
    forward_fused_relu(ctx, x, y, a.slope);
  else
    forward(ctx, x, y, false);
}

void Layer::forward_fused_relu(Context&, const Tensor&, Tensor&, float) {
  DEFTNN_FAIL("layer '{}' ({}) cannot fuse a following ReLU", name(), type());
}

namespace {
void check_one_to_one(const Layer& l, size_t inputs, size_t outputs) {
  DEFTNN_CHECK(inputs == 1 && outputs == 1, "layer '{}' ({}) takes one input and writes one output, got {} and {}",
               l.name(), l.type(), inputs, outputs);
}
}  // namespace

std::vector<Shape> Layer::infer_multi(const std::vector<Shape>& in) {
  check_one_to_one(*this, in.size(), 1);
  return {infer(in[0])};
}

void Layer::forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                          bool train) {
  check_one_to_one(*this, x.size(), y.size());
  forward(ctx, *x[0], *y[0], train);
}

void Layer::backward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<const Tensor*>& y,
                           const std::vector<const Tensor*>& dy, const std::vector<Tensor*>& dx) {
  check_one_to_one(*this, x.size(), y.size());
  check_one_to_one(*this, dx.size(), dy.size());
  backward(ctx, *x[0], *y[0], *dy[0], dx[0]);
}

std::unique_ptr<Layer> make_layer(const nlohmann::json& spec) {
  SpecReader r(spec);  // checks the entry has a string "type" and "name"
  for (const Entry& e : kLayerTable)
    if (r.type() == e.type) return e.make(spec);
  std::string known;
  for (const Entry& e : kLayerTable) known += std::string(known.empty() ? "" : ", ") + e.type;
  DEFTNN_FAIL("layer '{}': unknown type '{}' (known: {})", r.name(), r.type(), known);
}

}  // namespace deftnn
