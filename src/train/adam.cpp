#include "train/adam.h"

#include <cmath>

#include "core/error.h"

namespace deftnn::train {

void adam_update(float* w, const float* g, float* m, float* v, int64_t n, int64_t t, const AdamConfig& c) {
  DEFTNN_CHECK(t >= 1, "adam_update: step {} (steps count from 1)", t);
  DEFTNN_CHECK(c.lr >= 0 && c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1 && c.eps > 0,
               "adam_update: lr {} beta1 {} beta2 {} eps {} (need lr >= 0, betas in [0, 1), eps > 0)", c.lr, c.beta1,
               c.beta2, c.eps);
  // The bias corrections in fp64: beta2^t stays near 1 for thousands of steps.
  const double bc1 = 1 - std::pow(c.beta1, double(t)), bc2 = 1 - std::pow(c.beta2, double(t));
  const float b1 = float(c.beta1), b2 = float(c.beta2);
  const float step = float(c.lr / bc1), inv_bc2 = float(1 / bc2), eps = float(c.eps);
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    w[i] -= step * m[i] / (std::sqrt(v[i] * inv_bc2) + eps);
  }
}

size_t Adam::add(int64_t n) {
  DEFTNN_CHECK(n >= 0, "Adam::add: {} elements", n);
  m_.emplace_back(size_t(n), 0.f);
  v_.emplace_back(size_t(n), 0.f);
  return m_.size() - 1;
}

void Adam::step(const std::vector<float*>& w, const std::vector<const float*>& g) {
  DEFTNN_CHECK(w.size() == m_.size() && g.size() == m_.size(), "Adam::step: {} weights and {} gradients for {} "
               "registered arrays", w.size(), g.size(), m_.size());
  ++t_;
  for (size_t i = 0; i < m_.size(); ++i)
    adam_update(w[i], g[i], m_[i].data(), v_[i].data(), int64_t(m_[i].size()), t_, c_);
}

}  // namespace deftnn::train
