#include "layers/gelu.h"

#include <cmath>

#include "layers/kernels/transformer_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

Shape GeluLayer::infer(const Shape& in) {
  DEFTNN_CHECK(!in.empty(), "{}: input of rank 0", layer_label(*this));
  return in;
}

void GeluLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool) {
  check_forward_args(*this, ctx, x, y, x.shape());
  if (ctx.is_cuda()) {
    kernels::gelu_forward(ctx.stream(), x.data<float>(), y.data<float>(), x.numel());
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) yp[i] = T(0.5) * xp[i] * std::erfc(-xp[i] * T(M_SQRT1_2));
  });
}

void GeluLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  if (!dx) return;
  if (ctx.is_cuda()) {
    kernels::gelu_backward(ctx.stream(), x.data<float>(), dy.data<float>(), dx->data<float>(), x.numel());
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T *xp = x.data<T>(), *gp = dy.data<T>();
    T* dxp = dx->data<T>();
    const T inv_sqrt_2pi = T(0.5 * M_2_SQRTPI * M_SQRT1_2);  // 1 / sqrt(2 pi)
    for (int64_t i = 0; i < x.numel(); ++i) {
      const T v = xp[i];
      const T cdf = T(0.5) * std::erfc(-v * T(M_SQRT1_2));
      dxp[i] = gp[i] * (cdf + v * inv_sqrt_2pi * std::exp(T(-0.5) * v * v));
    }
  });
}

nlohmann::json GeluLayer::config() const { return base_config(*this); }

std::unique_ptr<Layer> make_gelu(const nlohmann::json& spec) {
  SpecReader r(spec);
  r.finish();
  return std::make_unique<GeluLayer>(r.name());
}

}  // namespace deftnn
