#include "layers/gemm_layer.h"

#include "synapse/sve_apply.h"

namespace deftnn {

int64_t GemmLayer::flops(const Shape& in) const {
  const GemmShape s = gemm_shape(in);
  return 2 * s.M * s.N * s.K * s.groups;
}

void GemmLayer::set_sve(SveState s, Tensor weight) {
  const int64_t K = full_k();
  DEFTNN_CHECK(K > 0, "layer '{}': set_sve before infer (K is not known)", name());
  DEFTNN_CHECK(!s.active() || exec_.kernel != KernelFamily::Cudnn,
               "layer '{}': runs on kernel cudnn, which does not take an SVE-truncated weight", name());
  const int64_t Kp = s.active() ? int64_t(s.kept.size()) : K;
  if (s.active()) {
    check_sve(s, K, name());
    DEFTNN_CHECK(weight.defined() && weight.ndim() == 2 && weight.dim(0) == out_ && weight.dim(1) == Kp,
                 "layer '{}': truncated weight must be ({}, {}), got {}", name(), out_, Kp,
                 weight.defined() ? shape_str(weight.shape()) : std::string("undefined"));
  } else {
    DEFTNN_CHECK(weight.defined() && weight.dim(0) == out_ && weight.numel() == out_ * K,
                 "layer '{}': dense weight must hold ({}, {}) values, got {}", name(), out_, K,
                 weight.defined() ? shape_str(weight.shape()) : std::string("undefined"));
  }
  DEFTNN_CHECK(weight.dtype() == DType::F32, "layer '{}': the weight must be F32", name());
  s.kept_device = Tensor();
  s.swaps_device = Tensor();
  sve_ = std::move(s);
  exec_.transform.reset();
  packed_.invalidate();
  weight_.value = weight;
  weight_.grad = Tensor::empty(weight.shape(), DType::F32, weight.device());
}

void GemmLayer::set_exec(const LayerExec& e) {
  const bool sve = sve_.active();
  if (sve && e.transform) {
    const bool want_swap = *e.transform == SveTransform::Swap, built_swap = sve_.transform == SveTransform::Swap;
    DEFTNN_CHECK(want_swap == built_swap,
                 "layer '{}': SVE transform {} cannot replace {} at run time (swap orders the kept rows and the "
                 "weight's columns when the state is built); this layer runs {}",
                 name(), sve_transform_name(*e.transform), sve_transform_name(sve_.transform),
                 built_swap ? "swap" : "fused, copy");
  }
  const std::string on_cuda = can_implement(e, kind(), Device::CUDA, sve);
  DEFTNN_CHECK(on_cuda.empty() || can_implement(e, kind(), Device::CPU, sve).empty(), "layer '{}' ({}): {}", name(),
               type(), on_cuda);
  if (sve && e.transform) sve_.transform = *e.transform;
  exec_ = e;
}

void GemmLayer::on_device_change(Context& ctx) {
  packed_.invalidate();
  if (sve_.active()) sve_upload(sve_, ctx);
}

const SveState& GemmLayer::sve_on(Context& ctx) {
  if (sve_.active() && (!sve_.kept_device.defined() || sve_.kept_device.device() != ctx.device()))
    sve_upload(sve_, ctx);
  return sve_;
}

}  // namespace deftnn
