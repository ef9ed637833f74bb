// Masked mean over tokens (sentence-transformers' mean pooling): inputs
// hidden (N, T, H) and attention mask (N, T) of 0/1 values, output (N, H):
// y[n] = sum_t mask[n, t] x[n, t] / max(sum_t mask[n, t], 1e-9).
// The gradient goes to the hidden input only; the mask's, when asked for, is
// written as zeros (the mask is data, not a function of the weights).
// Graph entry: {"type": "meanpool", "name": ..., "inputs": ["hidden", "mask"]}.
#pragma once

#include "layers/multi_tensor_layer.h"

namespace deftnn {

class MeanPoolLayer : public MultiTensorLayer {
 public:
  explicit MeanPoolLayer(std::string name) : MultiTensorLayer(std::move(name)) {}
  std::string type() const override { return "meanpool"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return 2; }
  std::vector<Shape> infer_multi(const std::vector<Shape>& in) override;
  void forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                     bool train) override;
  void backward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<const Tensor*>& y,
                      const std::vector<const Tensor*>& dy, const std::vector<Tensor*>& dx) override;
  nlohmann::json config() const override;
};

std::unique_ptr<Layer> make_meanpool(const nlohmann::json& spec);

}  // namespace deftnn
