// Concat: inputs of one rank, equal except along `axis`, joined along it.
// Graph entry: {"type": "concat", "name": ..., "axis": 1, "inputs": [...]}
// (axis counts the batch as 0; the default 1 joins channels of (N, C, H, W)
// or features of (N, F); any rank).
#pragma once

#include "layers/multi_tensor_layer.h"

namespace deftnn {

class ConcatLayer : public MultiTensorLayer {
 public:
  ConcatLayer(std::string name, int64_t axis) : MultiTensorLayer(std::move(name)), axis_(axis) {}
  std::string type() const override { return "concat"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return kAnyCount; }
  std::vector<Shape> infer_multi(const std::vector<Shape>& in) override;
  void forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                     bool train) override;
  // dx[k] is dy's slice of input k.
  void backward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<const Tensor*>& y,
                      const std::vector<const Tensor*>& dy, const std::vector<Tensor*>& dx) override;
  nlohmann::json config() const override;
  int64_t axis() const { return axis_; }

 private:
  int64_t axis_;
};

std::unique_ptr<Layer> make_concat(const nlohmann::json& spec);

// The pieces of a tensor cut along `axis` into parts of extents `sizes`
// (concat's inputs, split's outputs): the joined tensor is `rows` rows of
// sum(widths) elements; part k is `rows` rows of widths[k] elements, at
// element offsets[k] of each row.
struct AxisParts {
  int64_t rows = 1;
  std::vector<int64_t> widths, offsets;
  int64_t row_width = 0;
};
AxisParts axis_parts(const Shape& joined, int64_t axis, const std::vector<int64_t>& sizes);

// Copies part k between the joined tensor and the part tensor on ctx's
// device: to_part = true reads the joined tensor (split, concat's backward),
// false writes it (concat, split's backward).
void copy_part(Context& ctx, const AxisParts& p, size_t k, const Tensor& src, Tensor& dst,
               bool to_part);

}  // namespace deftnn
