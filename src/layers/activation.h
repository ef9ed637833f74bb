// Smooth and piecewise-linear activations, element-wise, any shape:
//   sigmoid      y = 1 / (1 + exp(-x))
//   tanh         y = tanh(x)
//   hardsigmoid  y = max(0, min(1, alpha x + beta))      (ONNX: alpha 0.2, beta 0.5)
//   hardswish    y = x max(0, min(1, x / 6 + 1 / 2))    (MobileNetV3's)
// Graph entry: {"type": "activation", "name": ..., "kind": "sigmoid",
// "alpha": 0.2, "beta": 0.5} (alpha and beta only for hardsigmoid).
#pragma once

#include "layers/kernels/activation_kernels.h"
#include "layers/layer.h"

namespace deftnn {

class ActivationLayer : public Layer {
 public:
  using Kind = kernels::ActivationKind;
  ActivationLayer(std::string name, Kind kind, double alpha, double beta)
      : Layer(std::move(name)), kind_(kind), alpha_(alpha), beta_(beta) {}
  std::string type() const override { return "activation"; }
  Shape infer(const Shape& in) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;

 private:
  Kind kind_;
  double alpha_, beta_;  // hardsigmoid only
};

std::unique_ptr<Layer> make_activation(const nlohmann::json& spec);

}  // namespace deftnn
