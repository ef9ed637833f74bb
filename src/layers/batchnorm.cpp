#include "layers/batchnorm.h"

#include <cmath>

#include "layers/kernels/batchnorm_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

BatchNormLayer::BatchNormLayer(std::string name, double eps, double momentum)
    : Layer(std::move(name)), eps_(eps), momentum_(momentum) {
  gamma_.name = "weight";
  beta_.name = "bias";
  running_mean_.name = "running_mean";
  running_var_.name = "running_var";
  running_mean_.trainable = running_var_.trainable = false;
  running_mean_.lr_mult = running_var_.lr_mult = 0.f;
  running_mean_.decay_mult = running_var_.decay_mult = 0.f;
  beta_.decay_mult = 0.f;
}

Shape BatchNormLayer::infer(const Shape& in) {
  DEFTNN_CHECK(in.size() == 2 || in.size() == 4, "{}: needs an (N, C) or (N, C, H, W) input, got {}",
               layer_label(*this), shape_str(in));
  if (channels_ < 0) {
    channels_ = in[1];
    Rng unused(0);
    init_params(unused);
  }
  DEFTNN_CHECK(in[1] == channels_, "{}: sized for {} channels, input {} has {}", layer_label(*this), channels_,
               shape_str(in), in[1]);
  return in;
}

void BatchNormLayer::init_params(Rng&) {
  DEFTNN_CHECK(channels_ >= 0, "{}: init_params before infer", layer_label(*this));
  auto cpu = Context::cpu();
  auto fill = [&](Param& p, float v) {
    p.value = Tensor::empty({channels_});
    p.value.fill_(v, *cpu);
    if (p.trainable) p.grad = Tensor::zeros({channels_}, *cpu);
  };
  fill(gamma_, 1.f);
  fill(beta_, 0.f);
  fill(running_mean_, 0.f);
  fill(running_var_, 1.f);
}

namespace {

kernels::BnDims bn_dims(const Shape& s) {
  return {int(s[0]), int(s[1]), s.size() == 4 ? s[2] * s[3] : 1};
}

void check_param(const Layer& l, const Context& ctx, const Param& p, DType dtype, int64_t c) {
  DEFTNN_CHECK(p.value.defined() && p.value.device() == ctx.device() && p.value.dtype() == dtype &&
                   p.value.numel() == c,
               "{}: parameter '{}' must be {} ({}) on {}, is {} {} on {}", layer_label(l), p.name, dtype_name(dtype),
               c, device_name(ctx.device()), p.value.defined() ? dtype_name(p.value.dtype()) : "undefined",
               shape_str(p.value.shape()), device_name(p.value.device()));
}

}  // namespace

void BatchNormLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool train) {
  check_forward_args(*this, ctx, x, y, infer(x.shape()));
  for (Param* p : params()) check_param(*this, ctx, *p, x.dtype(), channels_);
  kernels::BnDims d = bn_dims(x.shape());
  int64_t m = int64_t(d.n) * d.hw;
  DEFTNN_CHECK(!train || m > 0, "{}: training needs a non-empty batch, got {}", layer_label(*this),
               shape_str(x.shape()));
  ensure_tensor(save_mean_, {channels_}, x.dtype(), ctx);
  ensure_tensor(save_invstd_, {channels_}, x.dtype(), ctx);
  last_train_ = train;
  if (ctx.is_cuda()) {
    float *mean = save_mean_.data<float>(), *invstd = save_invstd_.data<float>();
    if (train)
      kernels::bn_train_stats(ctx.stream(), d, x.data<float>(), float(eps_), float(momentum_), mean, invstd,
                              running_mean_.value.data<float>(), running_var_.value.data<float>());
    else
      kernels::bn_inference_stats(ctx.stream(), d.c, running_mean_.value.data<float>(),
                                  running_var_.value.data<float>(), float(eps_), mean, invstd);
    kernels::bn_apply(ctx.stream(), d, x.data<float>(), mean, invstd, gamma_.value.data<float>(),
                      beta_.value.data<float>(), y.data<float>());
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    T *mean = save_mean_.data<T>(), *invstd = save_invstd_.data<T>();
    T *rm = running_mean_.value.data<T>(), *rv = running_var_.value.data<T>();
    const T *g = gamma_.value.data<T>(), *b = beta_.value.data<T>();
    for (int c = 0; c < d.c; ++c) {
      auto at = [&](int64_t i) { return (i / d.hw * d.c + c) * d.hw + i % d.hw; };
      if (train) {
        double s = 0, q = 0;
        for (int64_t i = 0; i < m; ++i) s += double(xp[at(i)]);
        double mu = s / double(m);
        for (int64_t i = 0; i < m; ++i) q += (double(xp[at(i)]) - mu) * (double(xp[at(i)]) - mu);
        double var = q / double(m);
        mean[c] = T(mu);
        invstd[c] = T(1.0 / std::sqrt(var + eps_));
        double unbiased = m > 1 ? var * double(m) / double(m - 1) : var;
        rm[c] = T(momentum_ * double(rm[c]) + (1 - momentum_) * mu);
        rv[c] = T(momentum_ * double(rv[c]) + (1 - momentum_) * unbiased);
      } else {
        mean[c] = rm[c];
        invstd[c] = T(1.0 / std::sqrt(double(rv[c]) + eps_));
      }
      for (int64_t i = 0; i < m; ++i) yp[at(i)] = (xp[at(i)] - mean[c]) * invstd[c] * g[c] + b[c];
    }
  });
}

void BatchNormLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  DEFTNN_CHECK(save_mean_.defined() && save_mean_.device() == ctx.device(), "{}: backward before forward",
               layer_label(*this));
  kernels::BnDims d = bn_dims(x.shape());
  ensure_tensor(gamma_.grad, {channels_}, gamma_.value.dtype(), ctx);
  ensure_tensor(beta_.grad, {channels_}, beta_.value.dtype(), ctx);
  if (ctx.is_cuda()) {
    kernels::bn_backward(ctx.stream(), d, x.data<float>(), dy.data<float>(), save_mean_.data<float>(),
                         save_invstd_.data<float>(), gamma_.value.data<float>(), last_train_,
                         gamma_.grad.data<float>(), beta_.grad.data<float>(), dx ? dx->data<float>() : nullptr);
    return;
  }
  int64_t m = int64_t(d.n) * d.hw;
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T *xp = x.data<T>(), *gp = dy.data<T>();
    const T *mean = save_mean_.data<T>(), *invstd = save_invstd_.data<T>(), *g = gamma_.value.data<T>();
    T *dg = gamma_.grad.data<T>(), *db = beta_.grad.data<T>();
    for (int c = 0; c < d.c; ++c) {
      auto at = [&](int64_t i) { return (i / d.hw * d.c + c) * d.hw + i % d.hw; };
      double sg = 0, sgx = 0;
      for (int64_t i = 0; i < m; ++i) {
        sg += double(gp[at(i)]);
        sgx += double(gp[at(i)]) * double((xp[at(i)] - mean[c]) * invstd[c]);
      }
      db[c] = T(sg);
      dg[c] = T(sgx);
      if (!dx) continue;
      T* dxp = dx->data<T>();
      for (int64_t i = 0; i < m; ++i) {
        T gi = gp[at(i)];
        if (last_train_) gi -= (db[c] + (xp[at(i)] - mean[c]) * invstd[c] * dg[c]) / T(m);
        dxp[at(i)] = g[c] * invstd[c] * gi;
      }
    }
  });
}

nlohmann::json BatchNormLayer::config() const {
  auto j = base_config(*this);
  j["eps"] = eps_;
  j["momentum"] = momentum_;
  return j;
}

std::unique_ptr<Layer> make_batchnorm(const nlohmann::json& spec) {
  SpecReader r(spec);
  double eps = r.number("eps", 1e-5, 0, 1, /*lo_open=*/true);
  double momentum = r.number("momentum", 0.9, 0, 1);
  r.finish();
  return std::make_unique<BatchNormLayer>(r.name(), eps, momentum);
}

}  // namespace deftnn
