#include "layers/add.h"

#include "layers/kernels/add_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

std::vector<Shape> AddLayer::infer_multi(const std::vector<Shape>& in) {
  DEFTNN_CHECK(in.size() >= 2, "{}: needs 2 or more inputs, got {}", layer_label(*this), in.size());
  for (size_t k = 1; k < in.size(); ++k)
    DEFTNN_CHECK(in[k] == in[0], "{}: input {} has shape {} but input 0 has {}: add needs inputs of one shape",
                 layer_label(*this), k, shape_str(in[k]), shape_str(in[0]));
  return {in[0]};
}

void AddLayer::forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                             bool) {
  DEFTNN_CHECK(x.size() >= 2 && y.size() == 1 && x[0], "{}: takes 2 or more inputs and one output, got {} and {}",
               layer_label(*this), x.size(), y.size());
  const DType dt = x[0]->dtype();
  check_multi_args(*this, ctx, x, std::vector<Shape>(x.size(), x[0]->shape()), dt, "input");
  check_multi_args(*this, ctx, read_only(y), {x[0]->shape()}, dt, "output");
  sum_tensors(ctx, x, *y[0]);
}

void AddLayer::backward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<const Tensor*>& y,
                              const std::vector<const Tensor*>& dy, const std::vector<Tensor*>& dx) {
  DEFTNN_CHECK(dy.size() == 1 && dy[0] && dx.size() == x.size(), "{}: backward takes one output gradient and {} "
               "input gradients, got {} and {}", layer_label(*this), x.size(), dy.size(), dx.size());
  const Shape& s = dy[0]->shape();
  check_multi_args(*this, ctx, dy, {s}, dy[0]->dtype(), "output gradient");
  check_multi_args(*this, ctx, read_only(dx), std::vector<Shape>(dx.size(), s), dy[0]->dtype(), "input gradient",
                   true);
  for (Tensor* d : dx)
    if (d && d->raw() != dy[0]->raw()) d->copy_from(*dy[0], ctx);
}

nlohmann::json AddLayer::config() const { return base_config(*this); }

std::unique_ptr<Layer> make_add(const nlohmann::json& spec) {
  SpecReader r(spec);
  r.finish();
  return std::make_unique<AddLayer>(r.name());
}

void sum_tensors(Context& ctx, const std::vector<const Tensor*>& x, Tensor& y) {
  DEFTNN_CHECK(!x.empty(), "sum_tensors: no inputs");
  for (size_t k = 0; k < x.size(); ++k) {
    DEFTNN_CHECK(x[k]->shape() == y.shape() && x[k]->dtype() == y.dtype() && x[k]->device() == ctx.device() &&
                     y.device() == ctx.device(),
                 "sum_tensors: input {} is {} {} on {}, the sum {} {} on {} (context {})", k,
                 dtype_name(x[k]->dtype()), shape_str(x[k]->shape()), device_name(x[k]->device()),
                 dtype_name(y.dtype()), shape_str(y.shape()), device_name(y.device()), device_name(ctx.device()));
    DEFTNN_CHECK(k == 0 || x[k]->raw() != y.raw(), "sum_tensors: the sum overwrites input {} before reading it", k);
  }
  if (x.size() == 1) {
    if (x[0]->raw() != y.raw()) y.copy_from(*x[0], ctx);
    return;
  }
  // ((x0 + x1) + x2) + ...: the same order on both devices.
  if (ctx.is_cuda()) {
    DEFTNN_CHECK(y.dtype() == DType::F32, "sum_tensors: {} on the GPU (F32 only)", dtype_name(y.dtype()));
    kernels::add2(ctx.stream(), x[0]->data<float>(), x[1]->data<float>(), y.data<float>(), y.numel());
    for (size_t k = 2; k < x.size(); ++k) kernels::add_into(ctx.stream(), y.data<float>(), x[k]->data<float>(), y.numel());
    return;
  }
  auto run = [&](auto t) {
    using T = decltype(t);
    T* yp = y.data<T>();
    const T *a = x[0]->data<T>(), *b = x[1]->data<T>();
    for (int64_t i = 0; i < y.numel(); ++i) yp[i] = a[i] + b[i];
    for (size_t k = 2; k < x.size(); ++k) {
      const T* c = x[k]->data<T>();
      for (int64_t i = 0; i < y.numel(); ++i) yp[i] += c[i];
    }
  };
  if (y.dtype() == DType::F64) run(double{});
  else run(float{});
}

void add_into(Context& ctx, Tensor& y, const Tensor& x) {
  DEFTNN_CHECK(x.shape() == y.shape() && x.dtype() == y.dtype() && x.device() == ctx.device() &&
                   y.device() == ctx.device() && (y.dtype() == DType::F32 || y.dtype() == DType::F64),
               "add_into: {} {} on {} into {} {} on {} (context {})", dtype_name(x.dtype()), shape_str(x.shape()),
               device_name(x.device()), dtype_name(y.dtype()), shape_str(y.shape()), device_name(y.device()),
               device_name(ctx.device()));
  if (ctx.is_cuda()) {
    kernels::add_into(ctx.stream(), y.data<float>(), x.data<float>(), y.numel());
    return;
  }
  auto run = [&](auto t) {
    using T = decltype(t);
    T* yp = y.data<T>();
    const T* xp = x.data<T>();
    for (int64_t i = 0; i < y.numel(); ++i) yp[i] += xp[i];
  };
  if (y.dtype() == DType::F64) run(double{});
  else run(float{});
}

}  // namespace deftnn
