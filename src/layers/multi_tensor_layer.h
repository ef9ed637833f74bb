// Base of the layers with several inputs or outputs (add, concat, split).
// They implement only Layer's *_multi calls; the one-tensor calls fail,
// naming the layer, so a caller that treats the net as a chain learns why.
#pragma once

#include "layers/layer.h"

namespace deftnn {

class MultiTensorLayer : public Layer {
 public:
  using Layer::Layer;
  Shape infer(const Shape& in) final;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) final;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) final;
  // A graph node of one input and one output (an embedding without type
  // ids) reaches the layer here at inference: forward_multi with that pair,
  // plain args only.
  void forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& args) final;
};

// Checks the tensors of a multi-tensor call: each defined, on ctx's device,
// of `dtype` (F32, or F64 on the CPU) and of the shape in `shapes`.
// `what` is "input" or "output" (or "... gradient") for the message; with
// `nullable`, null entries (gradients nobody wants) are allowed.
void check_multi_args(const Layer& l, const Context& ctx, const std::vector<const Tensor*>& t,
                      const std::vector<Shape>& shapes, DType dtype, const char* what, bool nullable = false);

// The same pointers, read-only (outputs and input gradients to check).
inline std::vector<const Tensor*> read_only(const std::vector<Tensor*>& t) { return {t.begin(), t.end()}; }

}  // namespace deftnn
