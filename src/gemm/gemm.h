// The one front door for matrix products. Every conv and fully connected
// layer reaches the hardware through gemm(); the backend (CPU BLAS, cuBLAS,
// cuBLASLt's tensor cores, the fission kernels), the precision and the
// on-chip number format are chosen by the
// GemmConfig, resolved once (resolve_gemm), so nothing else in the engine
// needs to know about them.
//
// Convention (Caffe's): row-major, C (M x N) = alpha * op(A) (M x K) * op(B) (K x N) + beta * C.
// For a layer, A is the weight matrix W (M x K) and B the input X (K x N).
// All pointers live on ctx's device. lda/ldb/ldc are the row strides of the
// matrices as stored (0 = tight).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "formats/format.h"
#include "gemm/mixed/mixed_gemm.h"
#include "plan/exec_types.h"

namespace deftnn {

// How the caller wants the product run (derived from the layer's LayerExec,
// plan/exec_plan.h; the default is plain fp32 on the context's device).
struct GemmConfig {
  KernelFamily kernel = KernelFamily::Auto;  // Cudnn is not a GEMM kernel: refused here
  Format format;                             // weight storage format; fp32 = no fission
  FissionPlacement placement = FissionPlacement::OnChip;
  Precision precision = Precision::FP32;     // TF32 on cuBLAS; bf16/fp16/fp8e4m3 on cuBLASLt (CPU: emulated)
  // kernel Mixed only: the narrow weight format, and how its CUDA path is picked.
  mixed::WeightFormat weights;
  MixedChoice mixed_choice = MixedChoice::Measure;
  bool operator==(const GemmConfig&) const = default;
};

// The backend a GemmConfig resolves to on a device.
enum class GemmBackend : uint8_t {
  CpuBlas,     // OpenBLAS sgemm
  Cublas,      // cuBLAS, CUBLAS_COMPUTE_32F: plain fp32 FFMA, no TF32 (the baseline)
  CublasTF32,  // cuBLAS with TF32 tensor cores (context only, never a baseline)
  Fission,     // our SIMT kernels with the on-chip format of the config
  CublasLt,    // cuBLASLt tensor cores: bf16, fp16 or fp8 e4m3 inputs, fp32 accumulate, fp32 C
  CpuEmulated, // the CPU's stand-in for CublasLt: inputs rounded as CublasLt rounds them, then sgemm
  Mixed,       // narrow weights, bf16 activations: the mixed-input kernel or cuBLASLt bf16 on dec(W)
  CpuMixed,    // the CPU's stand-in for Mixed: dec(W) and bf16-rounded inputs, then sgemm
};
// "cpu-blas" | "cublas" | "cublas-tf32" | "fission" | "cublaslt" | "cpu-emulated" | "mixed" | "cpu-mixed"
const char* gemm_backend_name(GemmBackend b);

// A GemmConfig resolved once on a device: what gemm() runs and what the
// packed-weight cache packs for.
struct GemmPlan {
  GemmBackend backend = GemmBackend::CpuBlas;
  Format format;
  FissionPlacement placement = FissionPlacement::OnChip;
  Precision precision = Precision::FP32;  // what CublasLt / CpuEmulated round the inputs to
  mixed::WeightFormat weights;            // Mixed / CpuMixed
  MixedChoice mixed_choice = MixedChoice::Measure;
};

// "" when `config` can run on `device`, else why not and what exists (the
// rule plan::can_implement uses for a layer's GEMM).
std::string gemm_can_implement(const GemmConfig& config, Device device);
// The backend for `config` on ctx's device. Throws deftnn::Error with
// gemm_can_implement's reason when there is none.
GemmPlan resolve_gemm(const Context& ctx, const GemmConfig& config);

// Weights packed once, offline, into a fission format; the kernel reads them
// with no per-call conversion. Layout is private to the kernels.
struct PackedMatrix {
  Format format;
  int64_t rows = 0, cols = 0;  // logical (M, K) of the fp32 matrix it came from
  Tensor data;                 // on the device the kernels run on
  bool empty() const { return !data.defined(); }
};

// A matrix (a layer's weight) converted once to a tensor-core input precision
// (bf16, fp16, fp8 e4m3; gemm/lowp.h makes it). The layout is the one the
// CublasLt backend feeds cuBLASLt: row r of the (rows, cols) fp32 matrix is
// `ld` contiguous elements, cols rounded up to kLowpAlign with zeros, and
// rows rounded up to kLowpAlign with zero rows (fp8's dimension rule).
//   CUDA: data (rows_padded, ld) of BF16 / F16 / U8 (e4m3 codes); scale two
//         device fp32: [0] the dequantisation factor (fp8: amax / 448; else
//         1), [1] the fp8 amax it came from.
//   CPU (CpuEmulated): data (rows, cols) F32 holding the rounded values
//         (fp8: the e4m3 values, not yet multiplied back by the scale);
//         scale one host fp32.
// cuBLASLt's fp8 kernels want every dimension and leading dimension a
// multiple of 16 (elements, 16 bytes of e4m3); the converted operands keep
// that for every precision (16 bf16/fp16 elements are 32 bytes).
inline constexpr int64_t kLowpAlign = 16;
inline int64_t lowp_round_up(int64_t n) { return (n + kLowpAlign - 1) / kLowpAlign * kLowpAlign; }

struct ConvertedMatrix {
  Precision precision = Precision::FP32;
  int64_t rows = 0, cols = 0;  // logical (M, K) of the fp32 matrix it came from
  int64_t ld = 0;              // element stride of a row in data
  Tensor data;
  Tensor scale;
  bool empty() const { return !data.defined(); }
};

// A matrix (a linear layer's weight W (rows, cols)) packed once into a
// mixed-input weight format (gemm/mixed/mixed_format.h), with what each path
// of the Mixed backends reads:
//   CPU (CpuMixed): decoded, dec(W) (rows, cols) fp32 row-major;
//   CUDA (Mixed):   device, the packed codes and scales for the mixed-input
//                   kernel, and dequantized, dec(W) in bf16 (exact) as
//                   cuBLASLt's bf16 operand (ConvertedMatrix above).
struct MixedMatrix {
  mixed::WeightFormat format;
  int64_t rows = 0, cols = 0;
  std::vector<float> decoded;
  mixed::DeviceWeights device;
  ConvertedMatrix dequantized;
  bool empty() const { return rows == 0 && cols == 0; }
};
// Packs W (rows, cols), row stride ld, on ctx's device (a CUDA W is copied
// to the host to pack, then uploaded). Throws on a non-finite weight.
MixedMatrix make_mixed_matrix(Context& ctx, const float* w, int64_t rows, int64_t cols, int64_t ld,
                              const mixed::WeightFormat& f);

// What kernel Mixed's measurement chose, per shape, on a context (reports,
// benchmarks): M (output features) x N (tokens) x K, format, and the medians.
struct MixedDecision {
  int64_t M = 0, N = 0, K = 0;
  mixed::WeightFormat format;
  MixedChoice chosen = MixedChoice::Kernel;
  double kernel_ms = 0, dequantized_ms = 0;  // 0 = not timed (chosen by rule during a CUDA-graph capture)
};
std::vector<MixedDecision> mixed_decisions(const Context& ctx);

struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  bool trans_a = false;  // A stored (K, M) row-major instead of (M, K)
  bool trans_b = false;  // B stored (N, K) row-major instead of (K, N)
  bool trans_c = false;  // C stored (N, M) row-major instead of (M, N): a linear
                         // layer writes Y (batch, out) = (W X^T)^T this way
  float alpha = 1.f, beta = 0.f;
  const float* A = nullptr;
  int64_t lda = 0;  // row stride of A as stored; 0 = tight
  const float* B = nullptr;
  int64_t ldb = 0;
  float* C = nullptr;
  int64_t ldc = 0;
  // Optional: A already packed in the plan's format (only for !trans_a). When
  // absent the fission backend packs A itself on every call (slower).
  const PackedMatrix* packed_a = nullptr;
  // Optional: A already converted to the plan's precision (only for !trans_a,
  // CublasLt and CpuEmulated). When absent the backend converts A on every call.
  const ConvertedMatrix* converted_a = nullptr;
  // Optional: A already packed in the plan's mixed weight format (only for
  // !trans_a, Mixed and CpuMixed). When absent the backend packs A every call.
  const MixedMatrix* mixed_a = nullptr;
  // Optional, CublasLt with bf16 or fp16 only: op(B)^T already in the plan's
  // precision, as the backend would convert it: (lowp_round_up(N),
  // lowp_round_up(K)) row-major, zeros in the padding (a convolution's
  // im2row_lowp, layers/im2col.h, writes it straight from the input, saving
  // the fp32 column matrix and its conversion). B is then not read.
  const void* lowp_b = nullptr;
};

// C = alpha * op(A) * op(B) + beta * C on ctx's device with a resolved plan
// (ctx's device must be the one it was resolved for). Throws deftnn::Error on
// bad shapes or a failure.
void gemm(Context& ctx, const GemmArgs& args, const GemmPlan& plan);
// The same, resolving `config` first (backward passes, tests, benchmarks).
void gemm(Context& ctx, const GemmArgs& args, const GemmConfig& config = {});

}  // namespace deftnn
