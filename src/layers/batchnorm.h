// Batch normalisation per channel: over (N, H, W) of an (N, C, H, W) input,
// over N of an (N, C) input.
//   train:     y = gamma (x - mean_B) / sqrt(var_B + eps) + beta, batch statistics
//              (biased variance), and running = m * running + (1 - m) * batch
//              (running_var with the unbiased variance, M / (M - 1) var_B);
//   inference: the same with running_mean and running_var.
// Params: "weight" (gamma, init 1), "bias" (beta, init 0), and the
// non-trainable buffers "running_mean" (0) and "running_var" (1).
// Graph entry: {"type": "batchnorm", "name": ..., "eps": 1e-5, "momentum": 0.9}.
#pragma once

#include "layers/layer.h"

namespace deftnn {

class BatchNormLayer : public Layer {
 public:
  BatchNormLayer(std::string name, double eps, double momentum);
  std::string type() const override { return "batchnorm"; }
  Shape infer(const Shape& in) override;
  void init_params(Rng& rng) override;
  std::vector<Param*> params() override { return {&gamma_, &beta_, &running_mean_, &running_var_}; }
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;

 private:
  double eps_, momentum_;
  int64_t channels_ = -1;  // set by the first infer()
  Param gamma_, beta_, running_mean_, running_var_;
  Tensor save_mean_, save_invstd_;  // (C) statistics the last forward normalised with
  bool last_train_ = false;
};

std::unique_ptr<Layer> make_batchnorm(const nlohmann::json& spec);

}  // namespace deftnn
