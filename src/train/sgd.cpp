#include "train/sgd.h"

#include "train/sgd_kernel.h"

namespace deftnn::train {

void sgd_update_cpu(float* w, const float* g, float* v, int64_t n, float lr, float momentum, float decay) {
  for (int64_t i = 0; i < n; ++i) {
    float gi = decay * w[i] + g[i];  // caffe_axpy(local_decay, w, g)
    v[i] = lr * gi + momentum * v[i];  // caffe_cpu_axpby(local_rate, g, momentum, v)
    w[i] = w[i] - v[i];             // Blob::Update: w = -1 * v + w
  }
}

void sgd_update(Context& ctx, Tensor& w, const Tensor& g, Tensor& v, float lr, float momentum, float decay) {
  DEFTNN_CHECK(w.shape() == g.shape() && w.shape() == v.shape(), "sgd: weight {}, grad {}, history {}",
               shape_str(w.shape()), shape_str(g.shape()), shape_str(v.shape()));
  DEFTNN_CHECK(w.device() == ctx.device() && g.device() == ctx.device() && v.device() == ctx.device(),
               "sgd: tensors must live on the context's device ({})", device_name(ctx.device()));
  if (ctx.is_cuda())
    sgd_update_cuda(ctx, w.data<float>(), g.data<float>(), v.data<float>(), w.numel(), lr, momentum, decay);
  else
    sgd_update_cpu(w.data<float>(), g.data<float>(), v.data<float>(), w.numel(), lr, momentum, decay);
}

Sgd::Sgd(std::vector<Param*> params, float momentum, float weight_decay)
    : params_(std::move(params)), history_(params_.size()), momentum_(momentum), weight_decay_(weight_decay) {}

void Sgd::init_state(Context& ctx) {
  for (size_t i = 0; i < params_.size(); ++i) {
    Param* p = params_[i];
    if (p->trainable)
      history_[i] = Tensor::zeros(p->value.shape(), ctx);
    else
      history_[i] = Tensor();
  }
}

void Sgd::step(Context& ctx, float lr) {
  for (size_t i = 0; i < params_.size(); ++i) {
    Param* p = params_[i];
    if (!p->trainable || !p->grad.defined()) continue;
    if (!history_[i].defined() || history_[i].device() != ctx.device())
      history_[i] = Tensor::zeros(p->value.shape(), ctx);
    sgd_update(ctx, p->value, p->grad, history_[i], lr * p->lr_mult, momentum_, weight_decay_ * p->decay_mult);
  }
}

}  // namespace deftnn::train
