// Split: one input cut along `axis` into outputs of extents `sizes` (the
// inverse of concat). Graph entry: {"type": "split", "name": ..., "axis": 1,
// "sizes": [a, b, ...], "outputs": ["x1", "x2", ...]} (axis counts the batch
// as 0; the sizes must add up to the input's extent along it).
#pragma once

#include "layers/multi_tensor_layer.h"

namespace deftnn {

class SplitLayer : public MultiTensorLayer {
 public:
  SplitLayer(std::string name, int64_t axis, std::vector<int64_t> sizes)
      : MultiTensorLayer(std::move(name)), axis_(axis), sizes_(std::move(sizes)) {}
  std::string type() const override { return "split"; }
  int min_inputs() const override { return 1; }
  int max_inputs() const override { return 1; }
  int num_outputs() const override { return int(sizes_.size()); }
  std::vector<Shape> infer_multi(const std::vector<Shape>& in) override;
  void forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                     bool train) override;
  // dx is the output gradients joined along the axis.
  void backward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<const Tensor*>& y,
                      const std::vector<const Tensor*>& dy, const std::vector<Tensor*>& dx) override;
  nlohmann::json config() const override;

 private:
  int64_t axis_;
  std::vector<int64_t> sizes_;
};

std::unique_ptr<Layer> make_split(const nlohmann::json& spec);

}  // namespace deftnn
