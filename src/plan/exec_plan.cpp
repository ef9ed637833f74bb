#include "plan/exec_plan.h"

#include "core/error.h"

namespace deftnn {

GemmConfig gemm_config(const LayerExec& e) {
  GemmConfig c;
  c.kernel = e.kernel, c.format = e.format, c.placement = e.placement, c.precision = e.precision;
  c.weights = e.weights, c.mixed_choice = e.mixed_choice;
  return c;
}

const char* trunk_policy_name(TrunkPolicy t) {
  switch (t) {
    case TrunkPolicy::Auto: return "auto";
    case TrunkPolicy::Off: return "off";
    case TrunkPolicy::On: return "on";
  }
  return "?";
}

LayerExec ExecPlan::exec_for(const std::string& name, LayerKind kind) const {
  if (auto it = layers.find(name); it != layers.end()) {
    LayerExec e = it->second;
    // --weights over a plan with entries reaches the convolutions' entries too
    if (e.kernel == KernelFamily::Mixed && kind == LayerKind::Conv) e.kernel = KernelFamily::Auto, e.weights = {};
    return e;
  }
  LayerExec e = defaults;
  if (e.kernel == KernelFamily::Cudnn && kind != LayerKind::Conv) e.kernel = KernelFamily::Cublas;
  // A default of kernel mixed means "linear layers in mixed weights".
  if (e.kernel == KernelFamily::Mixed && kind == LayerKind::Conv) e.kernel = KernelFamily::Auto, e.weights = {};
  return e;
}

std::string can_implement(const LayerExec& e, LayerKind kind, Device device, bool sve_active) {
  if (e.kernel == KernelFamily::Cudnn) {
    if (kind != LayerKind::Conv)
      return "kernel cudnn runs convolutions only; a linear layer runs on auto, cpu-blas, cublas, fission";
    if (sve_active)
      return "kernel cudnn does not take an SVE-truncated weight; with SVE: auto, cublas, fission (CUDA), cpu-blas "
             "(CPU)";
    if (device != Device::CUDA) return "kernel cudnn runs on CUDA only; on the CPU: auto, cpu-blas";
    if (e.precision != Precision::FP32 && e.precision != Precision::BF16 && e.precision != Precision::FP16)
      return DEFTNN_FORMAT("kernel cudnn runs fp32 (CUDNN_FMA_MATH), bf16 and fp16, not {}; exists: fp32 on cpu-blas, "
                           "cublas, cudnn, fission; tf32 on cublas; bf16, fp16 on cudnn and cublas (cuBLASLt); "
                           "fp8e4m3 on cublas (cuBLASLt) and, emulated, on cpu-blas",
                           precision_name(e.precision));
    if (e.format.kind != FormatKind::FP32)
      return DEFTNN_FORMAT("kernel cudnn reads fp32 weights; format {} needs kernel fission (or auto)", e.format.name());
    return "";
  }
  if (e.kernel == KernelFamily::Mixed && kind != LayerKind::Linear)
    return "kernel mixed (--weights) runs linear layers only; a convolution runs on auto, cpu-blas, cublas, cudnn, "
           "fission";
  return gemm_can_implement(gemm_config(e), device);
}

}  // namespace deftnn
