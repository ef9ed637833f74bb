// Flatten: (N, C, H, W) -> (N, C*H*W) (any rank >= 2: (N, ...) -> (N, rest)).
// Graph entry: {"type": "flatten", "name": ...}.
#pragma once

#include "layers/layer.h"

namespace deftnn {

class FlattenLayer : public Layer {
 public:
  explicit FlattenLayer(std::string name) : Layer(std::move(name)) {}
  std::string type() const override { return "flatten"; }
  Shape infer(const Shape& in) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
};

std::unique_ptr<Layer> make_flatten(const nlohmann::json& spec);

}  // namespace deftnn
