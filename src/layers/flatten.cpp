#include "layers/flatten.h"

#include "layers/layer_util.h"

namespace deftnn {

Shape FlattenLayer::infer(const Shape& in) {
  DEFTNN_CHECK(in.size() >= 2, "{}: needs an input of rank >= 2 (N, ...), got {}", layer_label(*this), shape_str(in));
  return {in[0], shape_numel(Shape(in.begin() + 1, in.end()))};
}

void FlattenLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool) {
  check_forward_args(*this, ctx, x, y, infer(x.shape()));
  if (y.raw() != x.raw()) y.copy_from(x, ctx);
}

void FlattenLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  if (dx && dx->raw() != dy.raw()) dx->copy_from(dy, ctx);
}

nlohmann::json FlattenLayer::config() const { return base_config(*this); }

std::unique_ptr<Layer> make_flatten(const nlohmann::json& spec) {
  SpecReader r(spec);
  r.finish();
  return std::make_unique<FlattenLayer>(r.name());
}

}  // namespace deftnn
