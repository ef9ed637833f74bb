// Layer normalisation over the last dimension (BERT's LayerNorm): per row of
// H values y = (x - mean) / sqrt(var + eps) * weight + bias, var the biased
// variance. Mean and variance in two passes (the mean, then the squared
// deviations from it), so rows far from zero keep their precision.
// Input (N, H) or (N, T, H); weight (gamma, initialised 1) and bias (beta, 0)
// of H, sized by the first input, no weight decay (as BERT trains them).
// Graph entry: {"type": "layernorm", "name": ..., "eps": 1e-12}.
#pragma once

#include "layers/layer.h"

namespace deftnn {

class LayerNormLayer : public Layer {
 public:
  LayerNormLayer(std::string name, double eps) : Layer(std::move(name)), eps_(eps) {}
  std::string type() const override { return "layernorm"; }
  Shape infer(const Shape& in) override;
  void init_params(Rng& rng) override;
  std::vector<Param*> params() override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
  double eps() const { return eps_; }

 private:
  double eps_;
  int64_t h_ = 0;  // 0 until infer()
  Param gamma_, beta_;
};

std::unique_ptr<Layer> make_layernorm(const nlohmann::json& spec);

}  // namespace deftnn
