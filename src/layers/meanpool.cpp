#include "layers/meanpool.h"

#include <algorithm>

#include "layers/kernels/transformer_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

namespace {
constexpr double kMinCount = 1e-9;  // sentence-transformers' clamp of the token count

template <class T>
T mask_count(const T* m, int64_t t) {
  T c = 0;
  for (int64_t k = 0; k < t; ++k) c += m[k];
  return std::max(c, T(kMinCount));
}
}  // namespace

std::vector<Shape> MeanPoolLayer::infer_multi(const std::vector<Shape>& in) {
  DEFTNN_CHECK(in.size() == 2, "{}: takes hidden (N, T, H) and mask (N, T), got {} inputs", layer_label(*this),
               in.size());
  DEFTNN_CHECK(in[0].size() == 3, "{}: hidden must be (N, T, H), got {}", layer_label(*this), shape_str(in[0]));
  DEFTNN_CHECK(in[1] == Shape({in[0][0], in[0][1]}), "{}: mask must be (N, T) = ({}, {}) for hidden {}, got {}",
               layer_label(*this), in[0][0], in[0][1], shape_str(in[0]), shape_str(in[1]));
  return {{in[0][0], in[0][2]}};
}

void MeanPoolLayer::forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                                  bool) {
  DEFTNN_CHECK(x.size() == 2 && y.size() == 1 && x[0] && x[1], "{}: takes 2 inputs and one output, got {} and {}",
               layer_label(*this), x.size(), y.size());
  const Shape out = infer_multi({x[0]->shape(), x[1]->shape()})[0];
  const DType dt = x[0]->dtype();
  check_multi_args(*this, ctx, x, {x[0]->shape(), x[1]->shape()}, dt, "input");
  check_multi_args(*this, ctx, read_only(y), {out}, dt, "output");
  const int64_t n = x[0]->dim(0), t = x[0]->dim(1), h = x[0]->dim(2);
  if (ctx.is_cuda()) {
    kernels::meanpool_forward(ctx.stream(), x[0]->data<float>(), x[1]->data<float>(), y[0]->data<float>(), n, t, h);
    return;
  }
  dispatch_float(*this, dt, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t b = 0; b < n; ++b) {
      const T* m = x[1]->data<T>() + b * t;
      const T c = mask_count(m, t);
      for (int64_t j = 0; j < h; ++j) {
        T s = 0;
        for (int64_t k = 0; k < t; ++k) s += m[k] * x[0]->data<T>()[(b * t + k) * h + j];
        y[0]->data<T>()[b * h + j] = s / c;
      }
    }
  });
}

void MeanPoolLayer::backward_multi(Context& ctx, const std::vector<const Tensor*>& x,
                                   const std::vector<const Tensor*>& y, const std::vector<const Tensor*>& dy,
                                   const std::vector<Tensor*>& dx) {
  DEFTNN_CHECK(x.size() == 2 && dy.size() == 1 && dy[0] && dx.size() == 2,
               "{}: backward takes 2 inputs, one output gradient and 2 input gradients, got {}, {} and {}",
               layer_label(*this), x.size(), dy.size(), dx.size());
  const Shape out = infer_multi({x[0]->shape(), x[1]->shape()})[0];
  const DType dt = x[0]->dtype();
  check_multi_args(*this, ctx, dy, {out}, dt, "output gradient");
  check_multi_args(*this, ctx, read_only(dx), {x[0]->shape(), x[1]->shape()}, dt, "input gradient", true);
  if (dx[1]) dx[1]->zero_(ctx);
  if (!dx[0]) return;
  const int64_t n = x[0]->dim(0), t = x[0]->dim(1), h = x[0]->dim(2);
  if (ctx.is_cuda()) {
    kernels::meanpool_backward(ctx.stream(), x[1]->data<float>(), dy[0]->data<float>(), dx[0]->data<float>(), n, t, h);
    return;
  }
  dispatch_float(*this, dt, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t b = 0; b < n; ++b) {
      const T* m = x[1]->data<T>() + b * t;
      const T c = mask_count(m, t);
      for (int64_t k = 0; k < t; ++k)
        for (int64_t j = 0; j < h; ++j)
          dx[0]->data<T>()[(b * t + k) * h + j] = m[k] * dy[0]->data<T>()[b * h + j] / c;
    }
  });
}

nlohmann::json MeanPoolLayer::config() const { return base_config(*this); }

std::unique_ptr<Layer> make_meanpool(const nlohmann::json& spec) {
  SpecReader r(spec);
  r.finish();
  return std::make_unique<MeanPoolLayer>(r.name());
}

}  // namespace deftnn
