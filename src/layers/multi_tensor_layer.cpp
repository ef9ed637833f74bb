#include "layers/multi_tensor_layer.h"

#include "layers/layer_util.h"

namespace deftnn {

namespace {
[[noreturn]] void one_tensor_call(const Layer& l) {
  DEFTNN_FAIL("{} reads or writes several tensors: it runs through infer_multi / forward_multi / backward_multi only",
              layer_label(l));
}
}  // namespace

Shape MultiTensorLayer::infer(const Shape&) { one_tensor_call(*this); }
void MultiTensorLayer::forward(Context&, const Tensor&, Tensor&, bool) { one_tensor_call(*this); }
void MultiTensorLayer::backward(Context&, const Tensor&, const Tensor&, const Tensor&, Tensor*) {
  one_tensor_call(*this);
}

void MultiTensorLayer::forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& args) {
  DEFTNN_CHECK(args.plain(), "{} runs plain at inference (NCHW, nothing fused or deferred)", layer_label(*this));
  forward_multi(ctx, {&x}, {&y}, false);
}

void check_multi_args(const Layer& l, const Context& ctx, const std::vector<const Tensor*>& t,
                      const std::vector<Shape>& shapes, DType dtype, const char* what, bool nullable) {
  DEFTNN_CHECK(dtype == DType::F32 || (dtype == DType::F64 && !ctx.is_cuda()),
               "{}: element type {} is not supported (F32, or F64 on the CPU)", layer_label(l), dtype_name(dtype));
  DEFTNN_CHECK(t.size() == shapes.size(), "{}: {} {} tensors given, {} expected", layer_label(l), t.size(), what,
               shapes.size());
  for (size_t k = 0; k < t.size(); ++k) {
    if (!t[k] && nullable) continue;
    DEFTNN_CHECK(t[k] && t[k]->defined(), "{}: {} {} is undefined", layer_label(l), what, k);
    DEFTNN_CHECK(t[k]->device() == ctx.device(), "{}: {} {} is on {} but the context is {}", layer_label(l), what, k,
                 device_name(t[k]->device()), device_name(ctx.device()));
    DEFTNN_CHECK(t[k]->dtype() == dtype, "{}: {} {} is {}, expected {}", layer_label(l), what, k,
                 dtype_name(t[k]->dtype()), dtype_name(dtype));
    DEFTNN_CHECK(t[k]->shape() == shapes[k], "{}: {} {} has shape {}, expected {}", layer_label(l), what, k,
                 shape_str(t[k]->shape()), shape_str(shapes[k]));
  }
}

}  // namespace deftnn
