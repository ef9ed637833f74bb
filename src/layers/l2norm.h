// L2 normalisation over the last dimension (the sentence embedding's, as
// torch.nn.functional.normalize): y = x / max(||x||, eps) per row of H.
// Input (N, H) or (N, T, H).
// Graph entry: {"type": "l2norm", "name": ..., "eps": 1e-12}.
#pragma once

#include "layers/layer.h"

namespace deftnn {

class L2NormLayer : public Layer {
 public:
  L2NormLayer(std::string name, double eps) : Layer(std::move(name)), eps_(eps) {}
  std::string type() const override { return "l2norm"; }
  Shape infer(const Shape& in) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  // ||x|| > eps: dx = (dy - y (dy . y)) / ||x||; at the clamp dx = dy / eps.
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
  double eps() const { return eps_; }

 private:
  double eps_;
};

std::unique_ptr<Layer> make_l2norm(const nlohmann::json& spec);

}  // namespace deftnn
