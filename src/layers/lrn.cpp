#include "layers/lrn.h"

#include <cmath>
#include <vector>

#include "layers/kernels/lrn_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

Shape LrnLayer::infer(const Shape& in) {
  require_nchw(*this, in);
  return in;
}

namespace {

kernels::LrnDims lrn_dims(const Shape& s, int64_t size, double alpha, double beta, double k) {
  return {int(s[0]), int(s[1]), s[2] * s[3], int(size), float(alpha / double(size)), float(beta), float(k)};
}

// scale of every element of one (n) image, explicit windows (no sliding sums).
template <class T>
void scale_cpu(const kernels::LrnDims& d, const T* x, T* scale, T alpha_over_size, T k) {
  int pre = (d.size - 1) / 2, post = d.size - 1 - pre;
  for (int c = 0; c < d.c; ++c)
    for (int64_t p = 0; p < d.hw; ++p) {
      T sum = 0;
      for (int j = std::max(c - pre, 0); j <= std::min(c + post, d.c - 1); ++j) sum += x[j * d.hw + p] * x[j * d.hw + p];
      scale[c * d.hw + p] = k + alpha_over_size * sum;
    }
}

}  // namespace

void LrnLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool) {
  check_forward_args(*this, ctx, x, y, infer(x.shape()));
  kernels::LrnDims d = lrn_dims(x.shape(), size_, alpha_, beta_, k_);
  if (ctx.is_cuda()) {
    kernels::lrn_forward(ctx.stream(), d, x.data<float>(), y.data<float>());
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    int64_t image = int64_t(d.c) * d.hw;
    std::vector<T> scale(static_cast<size_t>(image));
    for (int n = 0; n < d.n; ++n) {
      const T* xp = x.data<T>() + n * image;
      T* yp = y.data<T>() + n * image;
      scale_cpu(d, xp, scale.data(), T(alpha_ / double(size_)), T(k_));
      for (int64_t i = 0; i < image; ++i) yp[i] = xp[i] * std::pow(scale[i], -T(beta_));
    }
  });
}

void LrnLayer::forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& a) {
  DEFTNN_CHECK(a.in == a.out && !a.relu && !a.defer && !a.pending.active(),
               "layer '{}' (lrn): inference runs one layout in and out with no fused epilogue, got {} -> {}", name(),
               layout_name(a.in), layout_name(a.out));
  if (a.in == Layout::NCHW) return forward(ctx, x, y, false);
  check_forward_args(*this, ctx, x, y, infer(x.shape()));
  kernels::LrnDims d = lrn_dims(x.shape(), size_, alpha_, beta_, k_);
  if (ctx.is_cuda()) {
    kernels::lrn_forward(ctx.stream(), d, x.data<float>(), y.data<float>(), /*cnhw=*/true);
    return;
  }
  // CPU, CNHW: channel c of image n at (c * N + n) * HW; the same arithmetic as forward().
  DEFTNN_CHECK(x.dtype() == DType::F32, "layer '{}' (lrn): CNHW inference takes F32, got {}", name(),
               dtype_name(x.dtype()));
  const int pre = (d.size - 1) / 2, post = d.size - 1 - pre;
  const int64_t cs = int64_t(d.n) * d.hw;
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int c = 0; c < d.c; ++c)
    for (int64_t q = 0; q < cs; ++q) {  // q = n * HW + p
      float sum = 0;
      for (int j = std::max(c - pre, 0); j <= std::min(c + post, d.c - 1); ++j) sum += xp[j * cs + q] * xp[j * cs + q];
      const float s = float(k_) + float(alpha_ / double(size_)) * sum;
      yp[c * cs + q] = xp[c * cs + q] * std::pow(s, -float(beta_));
    }
}

void LrnLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  if (!dx) return;
  kernels::LrnDims d = lrn_dims(x.shape(), size_, alpha_, beta_, k_);
  if (ctx.is_cuda()) {
    float* scale = static_cast<float*>(ctx.workspace(x.nbytes()));
    kernels::lrn_backward(ctx.stream(), d, x.data<float>(), y.data<float>(), dy.data<float>(), dx->data<float>(),
                          scale);
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    int64_t image = int64_t(d.c) * d.hw;
    int pre = (d.size - 1) / 2, post = d.size - 1 - pre;
    T coeff = T(2 * alpha_ * beta_ / double(size_));
    std::vector<T> scale(static_cast<size_t>(image)), ratio(static_cast<size_t>(image));
    for (int n = 0; n < d.n; ++n) {
      const T *xp = x.data<T>() + n * image, *yp = y.data<T>() + n * image, *gp = dy.data<T>() + n * image;
      T* dxp = dx->data<T>() + n * image;
      scale_cpu(d, xp, scale.data(), T(alpha_ / double(size_)), T(k_));
      for (int64_t i = 0; i < image; ++i) ratio[i] = gp[i] * yp[i] / scale[i];
      for (int c = 0; c < d.c; ++c)
        for (int64_t p = 0; p < d.hw; ++p) {
          T sum = 0;  // over j whose window holds c: j in [c - post, c + pre]
          for (int j = std::max(c - post, 0); j <= std::min(c + pre, d.c - 1); ++j) sum += ratio[j * d.hw + p];
          int64_t i = c * d.hw + p;
          dxp[i] = gp[i] * std::pow(scale[i], -T(beta_)) - coeff * xp[i] * sum;
        }
    }
  });
}

nlohmann::json LrnLayer::config() const {
  auto j = base_config(*this);
  j["local_size"] = size_;
  j["alpha"] = alpha_;
  j["beta"] = beta_;
  j["k"] = k_;
  return j;
}

std::unique_ptr<Layer> make_lrn(const nlohmann::json& spec) {
  SpecReader r(spec);
  int64_t size = r.integer("local_size", 5, 1);
  double alpha = r.number("alpha", 1.0, 0, 1e30);
  double beta = r.number("beta", 0.75, -1e30, 1e30);
  double k = r.number("k", 1.0, 0, 1e30, /*lo_open=*/true);
  r.finish();
  return std::make_unique<LrnLayer>(r.name(), size, alpha, beta, k);
}

}  // namespace deftnn
