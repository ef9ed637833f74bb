#include "layers/softmax.h"

#include "layers/kernels/softmax_kernels.h"
#include "layers/layer_util.h"
#include "layers/loss.h"

namespace deftnn {

Shape SoftmaxLayer::infer(const Shape& in) {
  bool ok = in.size() >= 2;
  for (size_t i = 2; i < in.size(); ++i) ok = ok && in[i] == 1;
  DEFTNN_CHECK(ok, "{}: needs an (N, C) input (trailing dimensions of 1 allowed), got {}", layer_label(*this),
               shape_str(in));
  return in;
}

void SoftmaxLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool) {
  check_forward_args(*this, ctx, x, y, infer(x.shape()));
  Shape rows = {x.dim(0), x.dim(1)};
  Tensor y2 = y.reshape(rows);
  softmax(ctx, x.reshape(rows), y2);
}

void SoftmaxLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  if (!dx) return;
  int64_t n = x.dim(0), c = x.dim(1);
  if (ctx.is_cuda()) {
    kernels::softmax_backward_rows(ctx.stream(), y.data<float>(), dy.data<float>(), dx->data<float>(), n, c);
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T *yp = y.data<T>(), *gp = dy.data<T>();
    T* dxp = dx->data<T>();
    for (int64_t i = 0; i < n; ++i) {
      T dot = 0;
      for (int64_t j = 0; j < c; ++j) dot += gp[i * c + j] * yp[i * c + j];
      for (int64_t j = 0; j < c; ++j) dxp[i * c + j] = yp[i * c + j] * (gp[i * c + j] - dot);
    }
  });
}

nlohmann::json SoftmaxLayer::config() const { return base_config(*this); }

std::unique_ptr<Layer> make_softmax(const nlohmann::json& spec) {
  SpecReader r(spec);
  r.finish();
  return std::make_unique<SoftmaxLayer>(r.name());
}

}  // namespace deftnn
