// Clip: y = min(max(x, min), max), element-wise (ONNX's Clip; ReLU6 is
// min 0, max 6). The gradient passes where min < x < max, as ONNX Runtime's
// and PyTorch's hardtanh do.
// Graph entry: {"type": "clip", "name": ..., "min": 0, "max": 6}.
#pragma once

#include "layers/layer.h"

namespace deftnn {

class ClipLayer : public Layer {
 public:
  ClipLayer(std::string name, double lo, double hi);
  std::string type() const override { return "clip"; }
  Shape infer(const Shape& in) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;

 private:
  double lo_, hi_;
};

std::unique_ptr<Layer> make_clip(const nlohmann::json& spec);

}  // namespace deftnn
