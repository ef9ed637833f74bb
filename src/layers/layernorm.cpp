#include "layers/layernorm.h"

#include <cmath>

#include "layers/kernels/transformer_kernels.h"
#include "layers/token_rows.h"

namespace deftnn {

Shape LayerNormLayer::infer(const Shape& in) {
  const TokenRows r = token_rows(*this, in);
  DEFTNN_CHECK(h_ == 0 || r.h == h_, "{}: normalises {} values per row, got input {}", layer_label(*this), h_,
               shape_str(in));
  if (h_ == 0) {
    h_ = r.h;
    gamma_ = {"weight", Tensor::empty({h_}), Tensor::empty({h_}), true, 1.f, 0.f};
    beta_ = {"bias", Tensor::empty({h_}), Tensor::empty({h_}), true, 1.f, 0.f};
  }
  return in;
}

void LayerNormLayer::init_params(Rng&) {
  DEFTNN_CHECK(h_ > 0, "{}: init_params before infer", layer_label(*this));
  DEFTNN_CHECK(!gamma_.value.is_cuda(), "{}: init_params before moving the parameters to the GPU", layer_label(*this));
  std::fill_n(gamma_.value.data<float>(), h_, 1.f);
  std::fill_n(beta_.value.data<float>(), h_, 0.f);
}

std::vector<Param*> LayerNormLayer::params() {
  if (h_ == 0) return {};
  return {&gamma_, &beta_};
}

namespace {
// Mean and 1 / sqrt(var + eps) of one row, in double.
template <class T>
void moments(const T* x, int64_t h, double eps, double& mean, double& rstd) {
  double s = 0;
  for (int64_t j = 0; j < h; ++j) s += x[j];
  mean = s / double(h);
  double q = 0;
  for (int64_t j = 0; j < h; ++j) q += (x[j] - mean) * (x[j] - mean);
  rstd = 1.0 / std::sqrt(q / double(h) + eps);
}
}  // namespace

void LayerNormLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool) {
  check_forward_args(*this, ctx, x, y, infer(x.shape()));
  const TokenRows r = token_rows(*this, x.shape());
  if (ctx.is_cuda()) {
    kernels::layernorm_forward(ctx.stream(), x.data<float>(), gamma_.value.data<float>(), beta_.value.data<float>(),
                               y.data<float>(), r.rows, r.h, float(eps_));
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T *g = gamma_.value.data<T>(), *b = beta_.value.data<T>();
    for (int64_t i = 0; i < r.rows; ++i) {
      const T* xr = x.data<T>() + i * r.h;
      T* yr = y.data<T>() + i * r.h;
      double mean, rstd;
      moments(xr, r.h, eps_, mean, rstd);
      for (int64_t j = 0; j < r.h; ++j) yr[j] = T((xr[j] - mean) * rstd * g[j] + b[j]);
    }
  });
}

// With xhat = (x - mean) rstd and g = dy weight:
// dx = rstd (g - mean(g) - xhat mean(g xhat)), dweight = sum dy xhat, dbias = sum dy.
void LayerNormLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  const TokenRows r = token_rows(*this, x.shape());
  if (ctx.is_cuda()) {
    void* scratch = ctx.workspace(kernels::layernorm_scratch_bytes(r.rows));
    kernels::layernorm_backward(ctx.stream(), x.data<float>(), gamma_.value.data<float>(), dy.data<float>(),
                                dx ? dx->data<float>() : nullptr, gamma_.grad.data<float>(), beta_.grad.data<float>(),
                                r.rows, r.h, float(eps_), scratch);
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* g = gamma_.value.data<T>();
    std::vector<double> dg(size_t(r.h), 0.0), db(size_t(r.h), 0.0);
    for (int64_t i = 0; i < r.rows; ++i) {
      const T *xr = x.data<T>() + i * r.h, *gr = dy.data<T>() + i * r.h;
      double mean, rstd;
      moments(xr, r.h, eps_, mean, rstd);
      double a = 0, b = 0;
      for (int64_t j = 0; j < r.h; ++j) {
        const double xh = (xr[j] - mean) * rstd;
        dg[size_t(j)] += gr[j] * xh;
        db[size_t(j)] += gr[j];
        a += double(gr[j]) * g[j];
        b += double(gr[j]) * g[j] * xh;
      }
      if (!dx) continue;
      a /= double(r.h), b /= double(r.h);
      T* dxr = dx->data<T>() + i * r.h;
      for (int64_t j = 0; j < r.h; ++j) dxr[j] = T(rstd * (double(gr[j]) * g[j] - a - (xr[j] - mean) * rstd * b));
    }
    for (int64_t j = 0; j < r.h; ++j) {
      gamma_.grad.data<T>()[j] = T(dg[size_t(j)]);
      beta_.grad.data<T>()[j] = T(db[size_t(j)]);
    }
  });
}

nlohmann::json LayerNormLayer::config() const {
  auto j = base_config(*this);
  j["eps"] = eps_;
  return j;
}

std::unique_ptr<Layer> make_layernorm(const nlohmann::json& spec) {
  SpecReader r(spec);
  double eps = r.number("eps", 1e-12, 0.0, 1.0, true);
  r.finish();
  return std::make_unique<LayerNormLayer>(r.name(), eps);
}

}  // namespace deftnn
