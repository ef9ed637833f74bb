// Softmax over the channel axis of (N, C) (or (N, C, 1, 1)) input: y = softmax(x)
// per row. For inference outputs; training uses softmax_cross_entropy (loss.h).
// Backward applies the softmax Jacobian: dx = y (dy - sum(dy y)).
// Graph entry: {"type": "softmax", "name": ...}.
#pragma once

#include "layers/layer.h"

namespace deftnn {

class SoftmaxLayer : public Layer {
 public:
  explicit SoftmaxLayer(std::string name) : Layer(std::move(name)) {}
  std::string type() const override { return "softmax"; }
  Shape infer(const Shape& in) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
};

std::unique_ptr<Layer> make_softmax(const nlohmann::json& spec);

}  // namespace deftnn
