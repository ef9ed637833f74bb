// ReLU, Caffe's: y = x for x > 0, negative_slope * x otherwise.
// Graph entry: {"type": "relu", "name": ..., "negative_slope": 0}.
#pragma once

#include "layers/layer.h"

namespace deftnn {

class ReluLayer : public Layer {
 public:
  ReluLayer(std::string name, double negative_slope) : Layer(std::move(name)), slope_(negative_slope) {}
  std::string type() const override { return "relu"; }
  Shape infer(const Shape& in) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
  double negative_slope() const { return slope_; }
  // Element-wise: any layout, the same one in and out.
  void forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& args) override;
  bool supports_layout(Layout in, Layout out) const override { return in == out; }

 private:
  double slope_;
};

std::unique_ptr<Layer> make_relu(const nlohmann::json& spec);

}  // namespace deftnn
