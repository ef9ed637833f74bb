#include "layers/relu.h"

#include "layers/kernels/relu_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

Shape ReluLayer::infer(const Shape& in) {
  DEFTNN_CHECK(!in.empty(), "{}: input of rank 0", layer_label(*this));
  return in;
}

void ReluLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool) {
  check_forward_args(*this, ctx, x, y, x.shape());
  if (ctx.is_cuda()) {
    kernels::relu_forward(ctx.stream(), x.data<float>(), y.data<float>(), x.numel(), float(slope_));
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    T s = T(slope_);
    for (int64_t i = 0; i < x.numel(); ++i) yp[i] = xp[i] > 0 ? xp[i] : s * xp[i];
  });
}

void ReluLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  if (!dx) return;
  if (ctx.is_cuda()) {
    kernels::relu_backward(ctx.stream(), x.data<float>(), dy.data<float>(), dx->data<float>(), x.numel(),
                           float(slope_));
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T *xp = x.data<T>(), *dyp = dy.data<T>();
    T* dxp = dx->data<T>();
    T s = T(slope_);
    for (int64_t i = 0; i < x.numel(); ++i) dxp[i] = xp[i] > 0 ? dyp[i] : s * dyp[i];
  });
}

nlohmann::json ReluLayer::config() const {
  auto j = base_config(*this);
  j["negative_slope"] = slope_;
  return j;
}

std::unique_ptr<Layer> make_relu(const nlohmann::json& spec) {
  SpecReader r(spec);
  double slope = r.number("negative_slope", 0.0, -1e30, 1e30);
  r.finish();
  return std::make_unique<ReluLayer>(r.name(), slope);
}

void ReluLayer::forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& a) {
  DEFTNN_CHECK(a.in == a.out && !a.relu && !a.defer && !a.pending.active(),
               "layer '{}' (relu): inference runs one layout in and out with no fused epilogue", name());
  forward(ctx, x, y, false);
}

}  // namespace deftnn
