// Adam (Kingma and Ba, 2015) on host float arrays, as PyTorch's torch.optim.Adam
// without weight decay or amsgrad, per element at step t (1-based):
//
//   m = beta1 m + (1 - beta1) g
//   v = beta2 v + (1 - beta2) g^2
//   w = w - lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
//
// Used by the embedding distillation (train/embed_distill.h), whose
// parameters are the truncated weights of an eliminated encoder: they differ
// in scale by layer (the FFN's 1536-wide input against 384), which Adam's
// per-element normalisation absorbs and plain SGD (train/sgd.h) would need a
// rate per layer for. A zero gradient (m = v = 0) leaves the weight exactly as
// it was: the update is 0 / (0 + eps).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace deftnn::train {

struct AdamConfig {
  double lr = 1e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// One parameter array's update in place; t = steps taken including this one.
// m and v are this array's moments (n each, zero before the first step).
void adam_update(float* w, const float* g, float* m, float* v, int64_t n, int64_t t, const AdamConfig& c);

// The moments of a set of arrays, added in a fixed order.
class Adam {
 public:
  explicit Adam(AdamConfig c) : c_(c) {}
  // Registers an array of n elements; returns its index for step().
  size_t add(int64_t n);
  // One update of every registered array: w[i] from g[i], in add order.
  void step(const std::vector<float*>& w, const std::vector<const float*>& g);
  int64_t steps() const { return t_; }
  const AdamConfig& config() const { return c_; }

 private:
  AdamConfig c_;
  int64_t t_ = 0;
  std::vector<std::vector<float>> m_, v_;
};

}  // namespace deftnn::train
