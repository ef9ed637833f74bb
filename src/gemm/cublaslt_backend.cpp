// cuBLASLt behind the GEMM front door: bf16, fp16 or fp8 e4m3 inputs on the
// tensor cores, CUBLAS_COMPUTE_32F (fp32 accumulation), fp32 C and D.
//
// Both operands reach cuBLASLt K-contiguous: the weight op(A) as (M, K) rows
// (converted once, GemmArgs::converted_a, or here per call) and the input as
// op(B)^T (N, K) rows, converted per call into the context's Gemm scratch; K
// is padded with zeros to a multiple of kLowpAlign (gemm.h). Column-major,
// row-major C (M, N) is C^T (N, M) = X W^T, and row-major C^T (trans_c) is
// (M, N) = W X^T: either way cuBLASLt's "TN" form, op(A) = A^T and op(B) = B,
// which is also the one layout its fp8 kernels take.
//
// fp8: A and B scales through CUBLASLT_MATMUL_DESC_{A,B}_SCALE_POINTER (device
// floats: the weight's from its conversion, the input's from a per-call amax).
// cuBLASLt's fp8 kernels want every dimension a multiple of 16 and a 16-byte
// aligned D: when M, N, ldc or C's address do not allow that, the product goes
// to a padded fp32 scratch D and a copy kernel writes C = D + beta C.
//
// Per context (Context::StateSlot::CublasLt): the cuBLASLt handle, a fixed
// workspace and, per shape, the descriptors and the heuristic's algorithm.
#include "gemm/backends.h"
#include "gemm/lowp.h"

#ifdef DEFTNN_WITH_CUDA
#include <cublasLt.h>

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#include "core/cuda_check.h"
#include "gemm/kernels/lowp_convert.h"
#endif

namespace deftnn {

#ifdef DEFTNN_WITH_CUDA
namespace {

constexpr size_t kLtWorkspaceBytes = size_t(32) << 20;  // NVIDIA's recommendation for Hopper
constexpr size_t kScratchAlign = 256;                    // every scratch part starts 256-byte aligned

size_t align_up(size_t n) { return (n + kScratchAlign - 1) / kScratchAlign * kScratchAlign; }

// The largest power of two (up to 256) dividing p's address: the alignment
// cuBLASLt may assume of C and D.
uint32_t pointer_alignment(const void* p) {
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && (u % a) != 0) a >>= 1;
  return a;
}

cudaDataType_t lt_type(Precision p) {
  switch (p) {
    case Precision::BF16: return CUDA_R_16BF;
    case Precision::FP16: return CUDA_R_16F;
    case Precision::FP8E4M3: return CUDA_R_8F_E4M3;
    case Precision::FP32:
    case Precision::TF32: break;
  }
  DEFTNN_FAIL("cuBLASLt backend: precision {} is not bf16, fp16 or fp8e4m3", precision_name(p));
}

size_t element_bytes(Precision p) { return p == Precision::FP8E4M3 ? 1 : 2; }

// One shape's descriptors and algorithm, made on first use.
struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

using LtKey = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, uint32_t>;  // precision m n k ld ldc alignC

struct LtState final : Context::BackendState {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::map<LtKey, LtPlan> plans;
  ~LtState() override {
    for (auto& [k, p] : plans) {
      if (p.a) cublasLtMatrixLayoutDestroy(p.a);
      if (p.b) cublasLtMatrixLayoutDestroy(p.b);
      if (p.c) cublasLtMatrixLayoutDestroy(p.c);
      if (p.desc) cublasLtMatmulDescDestroy(p.desc);
    }
    if (workspace) cudaFree(workspace);
    if (handle) cublasLtDestroy(handle);
  }
};

LtState& lt_state(Context& ctx) {
  auto* s = static_cast<LtState*>(ctx.backend_state(Context::StateSlot::CublasLt));
  if (s) return *s;
  auto fresh = std::make_unique<LtState>();
  DEFTNN_CUBLAS_CHECK(cublasLtCreate(&fresh->handle));
  DEFTNN_CUDA_CHECK(cudaMalloc(&fresh->workspace, kLtWorkspaceBytes));
  s = fresh.get();
  ctx.set_backend_state(Context::StateSlot::CublasLt, std::move(fresh));
  return *s;
}

// The plan of a TN product: column-major D (m, n) ld ldc = A^T B, A (k, m) and
// B (k, n) with leading dimension ld, D's alignment alignC.
const LtPlan& lt_plan(LtState& st, Precision p, int64_t m, int64_t n, int64_t k, int64_t ld, int64_t ldc,
                      uint32_t align_c) {
  const LtKey key{int(p), m, n, k, ld, ldc, align_c};
  if (auto it = st.plans.find(key); it != st.plans.end()) return it->second;
  LtPlan lp;
  try {
    DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&lp.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
    DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(lp.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT));
    DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(lp.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN));
    if (p == Precision::FP8E4M3) {
      // The scale pointers are part of the problem the heuristic answers: an
      // algorithm picked without them may refuse them at cublasLtMatmul
      // (CUBLAS_STATUS_NOT_SUPPORTED). Any device address serves here; each
      // call sets the real ones.
      const void* any = st.workspace;
      DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(lp.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &any, sizeof any));
      DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(lp.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &any, sizeof any));
    }
    const cudaDataType_t t = lt_type(p);
    DEFTNN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lp.a, t, uint64_t(k), uint64_t(m), ld));
    DEFTNN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lp.b, t, uint64_t(k), uint64_t(n), ld));
    DEFTNN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lp.c, CUDA_R_32F, uint64_t(m), uint64_t(n), ldc));
    cublasLtMatmulPreference_t pref = nullptr;
    DEFTNN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const size_t ws = kLtWorkspaceBytes;
    const uint32_t align_ab = uint32_t(kScratchAlign);
    cublasLtMatmulHeuristicResult_t res{};
    int found = 0;
    cublasStatus_t s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    if (s == CUBLAS_STATUS_SUCCESS)
      s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_ab, sizeof align_ab);
    if (s == CUBLAS_STATUS_SUCCESS)
      s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_ab, sizeof align_ab);
    if (s == CUBLAS_STATUS_SUCCESS)
      s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof align_c);
    if (s == CUBLAS_STATUS_SUCCESS)
      s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof align_c);
    if (s == CUBLAS_STATUS_SUCCESS)
      s = cublasLtMatmulAlgoGetHeuristic(st.handle, lp.desc, lp.a, lp.b, lp.c, lp.c, pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    DEFTNN_CUBLAS_CHECK(s);
    DEFTNN_CHECK(found > 0 && res.state == CUBLAS_STATUS_SUCCESS,
                 "cuBLASLt has no {} kernel for D ({}, {}) = A^T B, K {} (ld {}), fp32 C/D ld {} aligned {} bytes",
                 precision_name(p), m, n, k, ld, ldc, align_c);
    lp.algo = res.algo;
  } catch (...) {
    if (lp.a) cublasLtMatrixLayoutDestroy(lp.a);
    if (lp.b) cublasLtMatrixLayoutDestroy(lp.b);
    if (lp.c) cublasLtMatrixLayoutDestroy(lp.c);
    if (lp.desc) cublasLtMatmulDescDestroy(lp.desc);
    throw;
  }
  return st.plans.emplace(key, lp).first->second;
}

}  // namespace
#endif

void cublaslt_gemm(Context& ctx, const GemmArgs& a, Precision p) {
#ifdef DEFTNN_WITH_CUDA
  DEFTNN_CHECK(is_lowp_precision(p), "GEMM backend cublaslt: precision {} is not bf16, fp16 or fp8e4m3",
               precision_name(p));
  if (a.M == 0 || a.N == 0) return;
  DEFTNN_CHECK(!a.lowp_b || p != Precision::FP8E4M3, "GEMM cublaslt: a pre-converted B needs bf16 or fp16");
  const ConvertedMatrix* ca = a.converted_a;
  const int64_t Kp = lowp_round_up(std::max<int64_t>(a.K, 1));
  if (ca)
    DEFTNN_CHECK(!a.trans_a && ca->precision == p && ca->rows == a.M && ca->cols == a.K && ca->ld == Kp &&
                     ca->data.is_cuda(),
                 "GEMM cublaslt: converted A ({} {}x{} ld {}) does not match the call ({} {}x{}{})",
                 precision_name(ca->precision), ca->rows, ca->cols, ca->ld, precision_name(p), a.M, a.K,
                 a.trans_a ? ", trans_a" : "");
  const bool fp8 = p == Precision::FP8E4M3;
  const int64_t Mp = lowp_round_up(a.M), Np = lowp_round_up(a.N);
  // cuBLASLt's fp8 rule (all dimensions multiples of 16, 16-byte D) met by
  // C itself, or a padded scratch D.
  const bool padded_d = fp8 && (a.M % kLowpAlign || a.N % kLowpAlign || a.ldc % 4 || pointer_alignment(a.C) < 16);
  const int64_t Mlt = padded_d ? Mp : a.M, Nlt = padded_d ? Np : a.N;

  // Scratch: [W' (Mp, Kp) when A is not converted][X' (Np, Kp)][amax, scale of W', X'][D (Mp, Np) when padded]
  const size_t eb = element_bytes(p);
  const size_t w_bytes = ca ? 0 : align_up(size_t(Mp * Kp) * eb);
  const size_t x_bytes = a.lowp_b ? 0 : align_up(size_t(Np * Kp) * eb);
  const size_t s_bytes = align_up(16 * sizeof(float)), d_bytes = padded_d ? size_t(Mp * Np) * sizeof(float) : 0;
  char* ws = static_cast<char*>(ctx.workspace(w_bytes + x_bytes + s_bytes + d_bytes, Context::Scratch::Gemm));
  void* wconv = ca ? ca->data.raw() : ws;
  void* xconv = a.lowp_b ? const_cast<void*>(a.lowp_b) : ws + w_bytes;
  // amax W', scale W', amax X', scale X', each in its own 16-byte slot: cuBLASLt
  // (13.1, H100) refuses fp8 scale pointers that are only 4-byte aligned
  // with CUBLAS_STATUS_NOT_SUPPORTED (bench/probes/cublaslt_fp8.cu)
  float* scales = reinterpret_cast<float*>(ws + w_bytes + x_bytes);
  float* dpad = padded_d ? reinterpret_cast<float*>(ws + w_bytes + x_bytes + s_bytes) : nullptr;
  void* stream = ctx.stream();
  const float* wscale = ca ? ca->scale.data<float>() : scales + 4;
  if (!ca) {
    const int64_t rs = a.trans_a ? 1 : a.lda, cs = a.trans_a ? a.lda : 1;
    if (fp8) lowp_amax_device(a.A, a.M, a.K, rs, cs, scales, stream);
    lowp_convert_device(a.A, a.M, a.K, rs, cs, p, scales, scales + 4, wconv, Mp, Kp, stream);
  }
  if (!a.lowp_b) {
    const int64_t rs = a.trans_b ? a.ldb : 1, cs = a.trans_b ? 1 : a.ldb;  // op(B)^T (N, K)
    if (fp8) lowp_amax_device(a.B, a.N, a.K, rs, cs, scales + 8, stream);
    lowp_convert_device(a.B, a.N, a.K, rs, cs, p, scales + 8, scales + 12, xconv, Np, Kp, stream);
  }
  const float* xscale = scales + 12;  // (fp8 only: lowp_b is bf16 or fp16)

  // !trans_c: D (N, M) = X' W'^T (cuBLASLt A = X', B = W'); trans_c: D (M, N) = W' X'^T.
  const void* lt_a = a.trans_c ? wconv : xconv;
  const void* lt_b = a.trans_c ? xconv : wconv;
  const float* sa = a.trans_c ? wscale : xscale;
  const float* sb = a.trans_c ? xscale : wscale;
  const int64_t m = a.trans_c ? Mlt : Nlt, n = a.trans_c ? Nlt : Mlt;
  float* d = padded_d ? dpad : a.C;
  const int64_t ldd = padded_d ? m : a.ldc;
  LtState& st = lt_state(ctx);
  const LtPlan& lp = lt_plan(st, p, m, n, Kp, Kp, ldd, pointer_alignment(d));
  if (fp8) {
    DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(lp.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sa, sizeof sa));
    DEFTNN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(lp.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sb, sizeof sb));
  }
  const float beta = padded_d ? 0.f : a.beta;
  const cublasStatus_t status = cublasLtMatmul(st.handle, lp.desc, &a.alpha, lt_a, lp.a, lt_b, lp.b, &beta, d, lp.c,
                                               d, lp.c, &lp.algo, st.workspace, kLtWorkspaceBytes, cudaStream_t(stream));
  DEFTNN_CHECK(status == CUBLAS_STATUS_SUCCESS,
               "cuBLASLt {} GEMM D ({}, {}) = A^T B, K {} (ld {}), fp32 C/D ld {} aligned {} bytes, beta {}: {}",
               precision_name(p), m, n, Kp, Kp, ldd, pointer_alignment(d), beta, cublasGetStatusString(status));
  if (padded_d) lowp_copy_out_device(dpad, ldd, a.C, a.ldc, a.trans_c ? a.M : a.N, a.trans_c ? a.N : a.M, a.beta, stream);
#else
  (void)ctx, (void)a;
  DEFTNN_FAIL("GEMM backend cublaslt ({}): {}", precision_name(p), cuda_unavailable_reason());
#endif
}

}  // namespace deftnn
