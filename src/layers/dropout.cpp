#include "layers/dropout.h"

#include "layers/dropout_hash.h"
#include "layers/kernels/dropout_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

DropoutLayer::DropoutLayer(std::string name, double ratio, uint64_t seed)
    : Layer(std::move(name)), ratio_(ratio), seed_(seed) {
  DEFTNN_CHECK(ratio >= 0 && ratio < 1, "{}: ratio {} outside [0, 1)", layer_label(*this), ratio);
}

void DropoutLayer::apply(Context& ctx, const Tensor& in, Tensor& out, bool masked, uint64_t key) const {
  if (!masked) {
    if (out.raw() != in.raw()) out.copy_from(in, ctx);
    return;
  }
  uint64_t threshold = dropout_threshold(ratio_);
  double scale = 1.0 / (1.0 - ratio_);
  if (ctx.is_cuda()) {
    kernels::dropout_apply(ctx.stream(), in.data<float>(), out.data<float>(), in.numel(), key, threshold,
                           float(scale));
    return;
  }
  dispatch_float(*this, in.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* ip = in.data<T>();
    T* op = out.data<T>();
    T s = T(scale);
    for (int64_t i = 0; i < in.numel(); ++i) op[i] = dropout_keep(key, uint64_t(i), threshold) ? ip[i] * s : T(0);
  });
}

void DropoutLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool train) {
  check_forward_args(*this, ctx, x, y, x.shape());
  last_train_ = train;
  if (train) last_key_ = dropout_key(seed_, counter_++);
  apply(ctx, x, y, train, last_key_);
}

void DropoutLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  if (dx) apply(ctx, dy, *dx, last_train_, last_key_);
}

nlohmann::json DropoutLayer::config() const {
  auto j = base_config(*this);
  j["ratio"] = ratio_;
  j["seed"] = seed_;
  return j;
}

std::unique_ptr<Layer> make_dropout(const nlohmann::json& spec) {
  SpecReader r(spec);
  double ratio = r.number("ratio", 0.5, 0, 1);
  int64_t seed = r.integer("seed", 0, 0);
  r.finish();
  if (ratio >= 1) r.fail("ratio", "must be below 1 (1 would drop everything)");
  return std::make_unique<DropoutLayer>(r.name(), ratio, uint64_t(seed));
}

}  // namespace deftnn
