// SGD with momentum and L2 weight decay, exactly as Caffe's SGDSolver:
//   g' = g + (weight_decay * decay_mult) * w        (Regularize)
//   v  = (lr * lr_mult) * g' + momentum * v        (ComputeUpdateValue)
//   w  = w - v                                      (Update)
// Parameters with trainable == false (or no gradient) are left alone.
#pragma once

#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "layers/layer.h"

namespace deftnn::train {

// One parameter tensor's update, in place, on the device of the tensors
// (ctx's device). w, g, v: same shape, F32.
void sgd_update(Context& ctx, Tensor& w, const Tensor& g, Tensor& v, float lr, float momentum, float decay);
// CPU reference (also the CPU path).
void sgd_update_cpu(float* w, const float* g, float* v, int64_t n, float lr, float momentum, float decay);

class Sgd {
 public:
  Sgd(std::vector<Param*> params, float momentum, float weight_decay);
  // Creates zero momentum buffers on ctx's device (again after the net moves).
  void init_state(Context& ctx);
  // Applies one update with base learning rate lr (times each lr_mult).
  void step(Context& ctx, float lr);

  const std::vector<Param*>& params() const { return params_; }
  // Momentum buffer of params()[i] (undefined for non-trainable parameters).
  std::vector<Tensor>& history() { return history_; }
  float momentum() const { return momentum_; }
  float weight_decay() const { return weight_decay_; }

 private:
  std::vector<Param*> params_;
  std::vector<Tensor> history_;
  float momentum_, weight_decay_;
};

}  // namespace deftnn::train
