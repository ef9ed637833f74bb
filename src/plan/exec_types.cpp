#include "plan/exec_types.h"

namespace deftnn {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::FP32: return "fp32";
    case Precision::TF32: return "tf32";
    case Precision::BF16: return "bf16";
    case Precision::FP16: return "fp16";
    case Precision::FP8E4M3: return "fp8e4m3";
  }
  return "?";
}

const char* kernel_family_name(KernelFamily k) {
  switch (k) {
    case KernelFamily::Auto: return "auto";
    case KernelFamily::CpuBlas: return "cpu-blas";
    case KernelFamily::Cublas: return "cublas";
    case KernelFamily::Cudnn: return "cudnn";
    case KernelFamily::Fission: return "fission";
    case KernelFamily::Mixed: return "mixed";
  }
  return "?";
}

const char* fission_placement_name(FissionPlacement p) {
  switch (p) {
    case FissionPlacement::OnChip: return "onchip";
    case FissionPlacement::OffChip: return "offchip";
    case FissionPlacement::Compute16: return "compute16";
  }
  return "?";
}

const char* layer_kind_name(LayerKind k) { return k == LayerKind::Conv ? "conv" : "linear"; }

const char* mixed_choice_name(MixedChoice c) {
  switch (c) {
    case MixedChoice::Measure: return "measure";
    case MixedChoice::Kernel: return "kernel";
    case MixedChoice::Dequantized: return "dequantized";
  }
  return "?";
}

}  // namespace deftnn
