// Local response normalisation across channels, Caffe's ACROSS_CHANNELS:
//   scale_c = k + (alpha / n) * sum_{j = c - (n-1)/2}^{c + n/2} x_j^2   (j clipped to [0, C))
//   y_c = x_c * scale_c^(-beta)
// Graph entry: {"type": "lrn", "name": ..., "local_size": 5, "alpha": 1,
// "beta": 0.75, "k": 1}.
#pragma once

#include "layers/layer.h"

namespace deftnn {

class LrnLayer : public Layer {
 public:
  LrnLayer(std::string name, int64_t local_size, double alpha, double beta, double k)
      : Layer(std::move(name)), size_(local_size), alpha_(alpha), beta_(beta), k_(k) {}
  std::string type() const override { return "lrn"; }
  Shape infer(const Shape& in) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
  // Inference in NCHW or CNHW (the same layout in and out: a channel window
  // only needs the channel stride).
  void forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& args) override;
  bool supports_layout(Layout in, Layout out) const override { return in == out; }

 private:
  void forward_layout(Context& ctx, const Tensor& x, Tensor& y, bool cnhw);
  int64_t size_;
  double alpha_, beta_, k_;
};

std::unique_ptr<Layer> make_lrn(const nlohmann::json& spec);

}  // namespace deftnn
