#include "layers/activation.h"

#include "layers/layer_util.h"

namespace deftnn {

namespace {

struct KindName {
  ActivationLayer::Kind kind;
  const char* name;
};
constexpr KindName kKinds[] = {{ActivationLayer::Kind::Sigmoid, "sigmoid"},
                               {ActivationLayer::Kind::Tanh, "tanh"},
                               {ActivationLayer::Kind::HardSigmoid, "hardsigmoid"},
                               {ActivationLayer::Kind::HardSwish, "hardswish"}};

const char* kind_name(ActivationLayer::Kind k) {
  for (const auto& e : kKinds)
    if (e.kind == k) return e.name;
  return "?";
}

}  // namespace

Shape ActivationLayer::infer(const Shape& in) {
  DEFTNN_CHECK(!in.empty(), "{}: input of rank 0", layer_label(*this));
  return in;
}

void ActivationLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool) {
  check_forward_args(*this, ctx, x, y, x.shape());
  const float a = float(alpha_), b = float(beta_);
  if (ctx.is_cuda()) {
    kernels::activation_forward(ctx.stream(), kind_, x.data<float>(), y.data<float>(), x.numel(), a, b);
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) yp[i] = kernels::activation_value<T>(kind_, xp[i], T(alpha_), T(beta_));
  });
}

void ActivationLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  if (!dx) return;
  const float a = float(alpha_), b = float(beta_);
  if (ctx.is_cuda()) {
    kernels::activation_backward(ctx.stream(), kind_, x.data<float>(), dy.data<float>(), dx->data<float>(), x.numel(),
                                 a, b);
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T *xp = x.data<T>(), *dyp = dy.data<T>();
    T* dxp = dx->data<T>();
    for (int64_t i = 0; i < x.numel(); ++i)
      dxp[i] = kernels::activation_slope<T>(kind_, xp[i], T(alpha_), T(beta_)) * dyp[i];
  });
}

nlohmann::json ActivationLayer::config() const {
  auto j = base_config(*this);
  j["kind"] = kind_name(kind_);
  if (kind_ == Kind::HardSigmoid) {
    j["alpha"] = alpha_;
    j["beta"] = beta_;
  }
  return j;
}

std::unique_ptr<Layer> make_activation(const nlohmann::json& spec) {
  SpecReader r(spec);
  std::vector<std::string> names;
  for (const auto& e : kKinds) names.push_back(e.name);
  const std::string kind = r.choice("kind", names);
  const KindName* found = &kKinds[0];
  for (const auto& e : kKinds)
    if (kind == e.name) found = &e;
  double alpha = 0.2, beta = 0.5;
  if (found->kind == ActivationLayer::Kind::HardSigmoid) {
    alpha = r.number("alpha", 0.2, -1e30, 1e30);
    beta = r.number("beta", 0.5, -1e30, 1e30);
  }
  r.finish();
  return std::make_unique<ActivationLayer>(r.name(), found->kind, alpha, beta);
}

}  // namespace deftnn
