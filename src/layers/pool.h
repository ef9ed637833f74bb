// Max and average pooling, Caffe's (CEIL rounding of the output size).
// Graph entries: {"type": "maxpool" | "avgpool", "name": ..., "kernel": k,
// "stride": 1, "pad": 0, "ceil": true}. Square windows. "ceil": false rounds
// the output size down instead (ONNX's and PyTorch's default, ceil_mode 0):
// H_out = floor((H + 2p - k) / s) + 1; every window then ends inside the
// padded input, so an average divides by k * k (ONNX's count_include_pad 1).
//
// Output size: H_out = ceil((H + 2p - k) / s) + 1, then, when p > 0 and the
// last window starts at or beyond H + p, H_out -= 1 (Caffe's rule).
// Max pool keeps the argmax of each window (I32, index into the H x W plane)
// for backward. Average pool divides by the window clipped to the padded
// input (H + p), not to the input, as Caffe does.
#pragma once

#include "layers/kernels/pool_kernels.h"
#include "layers/layer.h"

namespace deftnn {

enum class PoolMode { Max, Avg };

// The output size for one spatial dimension (no validation): Caffe's CEIL
// rule, or FLOOR when ceil is false.
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceil = true);

class PoolLayer : public Layer {
 public:
  PoolLayer(std::string name, PoolMode mode, int64_t kernel, int64_t stride, int64_t pad, bool ceil = true);
  std::string type() const override { return mode_ == PoolMode::Max ? "maxpool" : "avgpool"; }
  Shape infer(const Shape& in) override { return output_shape(in); }
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
  // Inference: any layout in and out (a pool turns a CNHW trunk back into
  // NCHW at no cost), and, max pool only, a producer's pending bias + ReLU
  // applied after the max (act is non-decreasing for slope >= 0, so
  // act(max(x) + b) = max(act(x + b))).
  void forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& args) override;
  bool supports_layout(Layout, Layout) const override { return true; }
  bool can_absorb_pending(float slope) const override { return mode_ == PoolMode::Max && slope >= 0.f; }

  Shape output_shape(const Shape& in) const;

 private:
  // The forward pass: the argmax mask when write_mask (plain NCHW max pool),
  // else layouts and a pending epilogue as io says.
  void run_forward(Context& ctx, const Tensor& x, Tensor& y, bool write_mask, const kernels::PoolInferIO& io);
  kernels::PoolInferIO infer_io(const InferArgs& a) const;
  PoolMode mode_;
  int64_t kernel_, stride_, pad_;
  bool ceil_;  // Caffe's CEIL output size (else FLOOR)
  Tensor mask_;             // max pool: (N, C, H_out, W_out) I32 argmax of the last training forward
  bool mask_valid_ = false;  // false after an inference forward (no mask written)
};

std::unique_ptr<Layer> make_maxpool(const nlohmann::json& spec);
std::unique_ptr<Layer> make_avgpool(const nlohmann::json& spec);

}  // namespace deftnn
