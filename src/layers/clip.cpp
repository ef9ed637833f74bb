#include "layers/clip.h"

#include <algorithm>

#include "layers/kernels/relu_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

ClipLayer::ClipLayer(std::string name, double lo, double hi) : Layer(std::move(name)), lo_(lo), hi_(hi) {
  DEFTNN_CHECK(lo <= hi, "{}: min {} is above max {}", layer_label(*this), lo, hi);
}

Shape ClipLayer::infer(const Shape& in) {
  DEFTNN_CHECK(!in.empty(), "{}: input of rank 0", layer_label(*this));
  return in;
}

void ClipLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool) {
  check_forward_args(*this, ctx, x, y, x.shape());
  if (ctx.is_cuda()) {
    kernels::clip_forward(ctx.stream(), x.data<float>(), y.data<float>(), x.numel(), float(lo_), float(hi_));
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    const T lo = T(lo_), hi = T(hi_);
    for (int64_t i = 0; i < x.numel(); ++i) yp[i] = std::min(std::max(xp[i], lo), hi);
  });
}

void ClipLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  if (!dx) return;
  if (ctx.is_cuda()) {
    kernels::clip_backward(ctx.stream(), x.data<float>(), dy.data<float>(), dx->data<float>(), x.numel(), float(lo_),
                           float(hi_));
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T *xp = x.data<T>(), *dyp = dy.data<T>();
    T* dxp = dx->data<T>();
    const T lo = T(lo_), hi = T(hi_);
    for (int64_t i = 0; i < x.numel(); ++i) dxp[i] = xp[i] > lo && xp[i] < hi ? dyp[i] : T(0);
  });
}

nlohmann::json ClipLayer::config() const {
  auto j = base_config(*this);
  j["min"] = lo_;
  j["max"] = hi_;
  return j;
}

std::unique_ptr<Layer> make_clip(const nlohmann::json& spec) {
  SpecReader r(spec);
  const double lo = r.number("min", std::nullopt, -3.4e38, 3.4e38);
  const double hi = r.number("max", std::nullopt, -3.4e38, 3.4e38);
  r.finish();
  if (lo > hi) r.fail("min", fmt::format("({}) must not be above max ({})", lo, hi));
  return std::make_unique<ClipLayer>(r.name(), lo, hi);
}

}  // namespace deftnn
