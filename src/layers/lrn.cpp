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

// scale (C, HW) of every element of one (n) image whose channel c starts at
// x + c * cs (cs = HW in NCHW, N * HW in CNHW); explicit windows (no sliding sums).
template <class T>
void scale_cpu(const kernels::LrnDims& d, const T* x, int64_t cs, T* scale, T alpha_over_size, T k) {
  int pre = (d.size - 1) / 2, post = d.size - 1 - pre;
  for (int c = 0; c < d.c; ++c)
    for (int64_t p = 0; p < d.hw; ++p) {
      T sum = 0;
      for (int j = std::max(c - pre, 0); j <= std::min(c + post, d.c - 1); ++j) sum += x[j * cs + p] * x[j * cs + p];
      scale[c * d.hw + p] = k + alpha_over_size * sum;
    }
}

}  // namespace

void LrnLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool) { forward_layout(ctx, x, y, false); }

void LrnLayer::forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& a) {
  DEFTNN_CHECK(a.in == a.out && !a.relu && !a.defer && !a.pending.active(),
               "layer '{}' (lrn): inference runs one layout in and out with no fused epilogue, got {} -> {}", name(),
               layout_name(a.in), layout_name(a.out));
  forward_layout(ctx, x, y, a.in == Layout::CNHW);
}

// NCHW, or CNHW: channel c of image n at (c * N + n) * HW.
void LrnLayer::forward_layout(Context& ctx, const Tensor& x, Tensor& y, bool cnhw) {
  check_forward_args(*this, ctx, x, y, infer(x.shape()));
  kernels::LrnDims d = lrn_dims(x.shape(), size_, alpha_, beta_, k_);
  if (ctx.is_cuda()) {
    kernels::lrn_forward(ctx.stream(), d, x.data<float>(), y.data<float>(), cnhw);
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const int64_t cs = cnhw ? int64_t(d.n) * d.hw : d.hw;                 // channel stride
    const int64_t image_stride = cnhw ? d.hw : int64_t(d.c) * d.hw;
    std::vector<T> scale(static_cast<size_t>(int64_t(d.c) * d.hw));
    for (int n = 0; n < d.n; ++n) {
      const T* xp = x.data<T>() + n * image_stride;
      T* yp = y.data<T>() + n * image_stride;
      scale_cpu(d, xp, cs, scale.data(), T(alpha_ / double(size_)), T(k_));
      for (int c = 0; c < d.c; ++c)
        for (int64_t p = 0; p < d.hw; ++p)
          yp[c * cs + p] = xp[c * cs + p] * std::pow(scale[c * d.hw + p], -T(beta_));
    }
  });
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
      scale_cpu(d, xp, d.hw, scale.data(), T(alpha_ / double(size_)), T(k_));
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
  int64_t size = r.integer("local_size", 5, 1, kMaxLayerDim);
  double alpha = r.number("alpha", 1.0, 0, 1e30);
  double beta = r.number("beta", 0.75, -1e30, 1e30);
  double k = r.number("k", 1.0, 0, 1e30, /*lo_open=*/true);
  r.finish();
  return std::make_unique<LrnLayer>(r.name(), size, alpha, beta, k);
}

}  // namespace deftnn
