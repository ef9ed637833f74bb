// GELU in its exact (erf) form, as BERT and sentence-transformers use it:
// y = x Phi(x) = 0.5 x (1 + erf(x / sqrt(2))), computed as 0.5 x erfc(-x / sqrt(2))
// (no cancellation for x << 0). Element-wise, any shape.
// Graph entry: {"type": "gelu", "name": ...}.
#pragma once

#include "layers/layer.h"

namespace deftnn {

class GeluLayer : public Layer {
 public:
  explicit GeluLayer(std::string name) : Layer(std::move(name)) {}
  std::string type() const override { return "gelu"; }
  Shape infer(const Shape& in) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  // dx = dy (Phi(x) + x phi(x)).
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
};

std::unique_ptr<Layer> make_gelu(const nlohmann::json& spec);

}  // namespace deftnn
