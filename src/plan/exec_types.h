// The typed vocabulary of "how a GEMM layer runs": compute precision, kernel
// family and fission placement. Plain types only (gemm/ and the CUDA kernels'
// plain headers include this); names are parsed at one door, plan/parse.h.
#pragma once

#include <cstdint>

namespace deftnn {

// Precision of the products inside the GEMM (the weights' storage format is
// separate: formats/format.h). FP32 runs on every kernel family, TF32 on
// cuBLAS; BF16, FP16 and FP8E4M3 are tensor-core inputs on cuBLASLt (fp32
// accumulation, fp32 output) and, emulated, on the CPU (docs/precision.md).
enum class Precision : uint8_t { FP32, TF32, BF16, FP16, FP8E4M3 };
const char* precision_name(Precision p);  // "fp32" | "tf32" | "bf16" | "fp16" | "fp8e4m3"

// Which kernels run the layer's forward product.
enum class KernelFamily : uint8_t {
  Auto,     // CPU: OpenBLAS fp32 (whatever the format); CUDA: cuBLAS fp32, or the fission kernels when the format is not fp32
  CpuBlas,  // OpenBLAS sgemm (CPU)
  Cublas,   // cuBLAS (CUDA): CUBLAS_COMPUTE_32F, or TF32 tensor cores with Precision::TF32
  Cudnn,    // cuDNN's fp32 convolution forward, whole layer (CUDA, conv only, no SVE)
  Fission,  // the near-compute data fission kernels with the layer's weight format (CUDA)
  Mixed,    // narrow weights (LayerExec::weights), bf16 activations, tensor cores: the mixed-input
            // fission kernel or cuBLASLt bf16 on the decoded weights, chosen by measurement
            // (MixedChoice); the CPU emulates it (linear layers only)
};
const char* kernel_family_name(KernelFamily k);  // "auto" | "cpu-blas" | "cublas" | "cudnn" | "fission" | "mixed"

// How kernel mixed picks between its two CUDA paths, which compute the same
// products up to one bf16 rounding of each decoded weight on the cuBLASLt
// path (value(code) * scale; 2^-9 relative, far below the format's own
// quantisation step) and the summation order: Measure times both on the first call of each shape and keeps the
// faster (cached per context), so narrow weights never run slower than bf16;
// Kernel and Dequantized force one path (tests, benchmarks).
enum class MixedChoice : uint8_t { Measure, Kernel, Dequantized };
const char* mixed_choice_name(MixedChoice c);  // "measure" | "kernel" | "dequantized"

// How the fission kernels place the narrow format (issue 3; Figure 18).
enum class FissionPlacement : uint8_t {
  OnChip,     // narrow values in shared memory, fp32 FMA (near-compute data fission)
  OffChip,    // narrow values in global memory, fp32 in shared memory (off-chip packing)
  Compute16,  // half in shared memory and half2 FMA (the paper's FP16 comparison)
};
const char* fission_placement_name(FissionPlacement p);  // "onchip" | "offchip" | "compute16"

// The kind of GEMM layer a LayerExec is checked against.
enum class LayerKind : uint8_t { Conv, Linear };
const char* layer_kind_name(LayerKind k);  // "conv" | "linear"

}  // namespace deftnn
