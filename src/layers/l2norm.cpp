#include "layers/l2norm.h"

#include <algorithm>
#include <cmath>

#include "layers/kernels/transformer_kernels.h"
#include "layers/token_rows.h"

namespace deftnn {

Shape L2NormLayer::infer(const Shape& in) {
  token_rows(*this, in);
  return in;
}

namespace {
template <class T>
double row_norm(const T* x, int64_t h) {
  double q = 0;
  for (int64_t j = 0; j < h; ++j) q += double(x[j]) * x[j];
  return std::sqrt(q);
}
}  // namespace

void L2NormLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool) {
  check_forward_args(*this, ctx, x, y, infer(x.shape()));
  const TokenRows r = token_rows(*this, x.shape());
  if (ctx.is_cuda()) {
    kernels::l2norm_forward(ctx.stream(), x.data<float>(), y.data<float>(), r.rows, r.h, float(eps_));
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    for (int64_t i = 0; i < r.rows; ++i) {
      const T* xr = x.data<T>() + i * r.h;
      T* yr = y.data<T>() + i * r.h;
      const double d = std::max(row_norm(xr, r.h), eps_);
      for (int64_t j = 0; j < r.h; ++j) yr[j] = T(xr[j] / d);
    }
  });
}

void L2NormLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  if (!dx) return;
  const TokenRows r = token_rows(*this, x.shape());
  if (ctx.is_cuda()) {
    kernels::l2norm_backward(ctx.stream(), x.data<float>(), y.data<float>(), dy.data<float>(), dx->data<float>(),
                             r.rows, r.h, float(eps_));
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    for (int64_t i = 0; i < r.rows; ++i) {
      const T *xr = x.data<T>() + i * r.h, *yr = y.data<T>() + i * r.h, *gr = dy.data<T>() + i * r.h;
      T* dxr = dx->data<T>() + i * r.h;
      const double nrm = row_norm(xr, r.h);
      double dot = 0;
      for (int64_t j = 0; j < r.h; ++j) dot += double(gr[j]) * yr[j];
      for (int64_t j = 0; j < r.h; ++j) dxr[j] = T(nrm > eps_ ? (gr[j] - yr[j] * dot) / nrm : gr[j] / eps_);
    }
  });
}

nlohmann::json L2NormLayer::config() const {
  auto j = base_config(*this);
  j["eps"] = eps_;
  return j;
}

std::unique_ptr<Layer> make_l2norm(const nlohmann::json& spec) {
  SpecReader r(spec);
  double eps = r.number("eps", 1e-12, 0.0, 1.0, true);
  r.finish();
  return std::make_unique<L2NormLayer>(r.name(), eps);
}

}  // namespace deftnn
