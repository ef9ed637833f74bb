// The one front door for matrix products. Every conv and fully connected
// layer reaches the hardware through gemm(); the backend (CPU BLAS, cuBLAS,
// the fission kernels) and the on-chip number format are chosen by the
// GemmConfig, so nothing else in the engine needs to know about them.
//
// Convention (Caffe's): row-major, C (M x N) = alpha * op(A) (M x K) * op(B) (K x N) + beta * C.
// For a layer, A is the weight matrix W (M x K) and B the input X (K x N).
// All pointers live on ctx's device. lda/ldb/ldc are the row strides of the
// matrices as stored (0 = tight).
#pragma once

#include <cstdint>
#include <string>

#include "core/context.h"
#include "core/tensor.h"
#include "formats/format.h"

namespace deftnn {

enum class GemmBackend : uint8_t {
  Auto,        // CPU: OpenBLAS; CUDA: cuBLAS fp32, or the fission kernels when format != fp32
  CpuBlas,     // OpenBLAS sgemm
  Cublas,      // cuBLAS, CUBLAS_COMPUTE_32F: plain fp32 FFMA, no TF32 (the baseline)
  CublasTF32,  // cuBLAS with TF32 tensor cores (context only, never a baseline)
  CublasBF16,  // cuBLAS bf16 inputs, fp32 accumulate (context only; converts inputs each call)
  Fission,     // our SIMT kernels with the on-chip format of GemmConfig::format
};
const char* gemm_backend_name(GemmBackend b);
GemmBackend gemm_backend_from_name(const std::string& name);

// How the fission kernels place the narrow format (issue 3; Figure 18).
enum class FissionPlacement : uint8_t {
  OnChip,     // narrow values in shared memory, fp32 FMA (near-compute data fission)
  OffChip,    // narrow values in global memory, fp32 in shared memory (off-chip packing)
  Compute16,  // half in shared memory and half2 FMA (the paper's FP16 comparison)
};

struct GemmConfig {
  GemmBackend backend = GemmBackend::Auto;
  Format format;  // fp32 = no fission
  FissionPlacement placement = FissionPlacement::OnChip;
  bool operator==(const GemmConfig&) const = default;
};
const char* fission_placement_name(FissionPlacement p);  // "onchip" | "offchip" | "compute16"
FissionPlacement fission_placement_from_name(const std::string& name);

// Weights packed once, offline, into a fission format; the kernel reads them
// with no per-call conversion. Layout is private to the kernels.
struct PackedMatrix {
  Format format;
  int64_t rows = 0, cols = 0;  // logical (M, K) of the fp32 matrix it came from
  Tensor data;                 // on the device the kernels run on
  bool empty() const { return !data.defined(); }
};

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
  // Optional: A already packed in config.format (only for !trans_a). When
  // absent the fission backend packs A itself on every call (slower).
  const PackedMatrix* packed_a = nullptr;
};

// C = alpha * op(A) * op(B) + beta * C on ctx's device. Throws deftnn::Error
// on bad shapes, a backend that does not exist on ctx's device, or a failure.
void gemm(Context& ctx, const GemmArgs& args, const GemmConfig& config = {});

// The backend gemm() will actually use for this config on ctx's device.
GemmBackend resolve_backend(const Context& ctx, const GemmConfig& config);

}  // namespace deftnn
