// Add: y = x0 + x1 + ... of n >= 2 inputs of one shape, summed in input
// order (the CPU and CUDA results are the same fp32 values).
// Graph entry: {"type": "add", "name": ..., "inputs": ["a", "b", ...]}.
#pragma once

#include "layers/multi_tensor_layer.h"

namespace deftnn {

class AddLayer : public MultiTensorLayer {
 public:
  explicit AddLayer(std::string name) : MultiTensorLayer(std::move(name)) {}
  std::string type() const override { return "add"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return kAnyCount; }
  std::vector<Shape> infer_multi(const std::vector<Shape>& in) override;
  void forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                     bool train) override;
  // dx[k] = dy for every wanted k.
  void backward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<const Tensor*>& y,
                      const std::vector<const Tensor*>& dy, const std::vector<Tensor*>& dx) override;
  nlohmann::json config() const override;
};

std::unique_ptr<Layer> make_add(const nlohmann::json& spec);

// y = x[0] + x[1] + ... in that order (y may be one of the x only if it is
// x[0]); every tensor of y's shape and dtype on ctx's device.
void sum_tensors(Context& ctx, const std::vector<const Tensor*>& x, Tensor& y);
// y += x (same shape and dtype, on ctx's device).
void add_into(Context& ctx, Tensor& y, const Tensor& x);

}  // namespace deftnn
