#include "gemm/gemm.h"

#include <cblas.h>

#include "gemm/backends.h"

namespace deftnn {

const char* gemm_backend_name(GemmBackend b) {
  switch (b) {
    case GemmBackend::Auto: return "auto";
    case GemmBackend::CpuBlas: return "cpu-blas";
    case GemmBackend::Cublas: return "cublas";
    case GemmBackend::CublasTF32: return "cublas-tf32";
    case GemmBackend::CublasBF16: return "cublas-bf16";
    case GemmBackend::Fission: return "fission";
  }
  return "?";
}

GemmBackend gemm_backend_from_name(const std::string& name) {
  for (GemmBackend b : {GemmBackend::Auto, GemmBackend::CpuBlas, GemmBackend::Cublas, GemmBackend::CublasTF32,
                        GemmBackend::CublasBF16, GemmBackend::Fission})
    if (name == gemm_backend_name(b)) return b;
  DEFTNN_FAIL("unknown GEMM backend '{}' (known: auto, cpu-blas, cublas, cublas-tf32, cublas-bf16, fission)", name);
}

const char* fission_placement_name(FissionPlacement p) {
  switch (p) {
    case FissionPlacement::OnChip: return "onchip";
    case FissionPlacement::OffChip: return "offchip";
    case FissionPlacement::Compute16: return "compute16";
  }
  return "?";
}

FissionPlacement fission_placement_from_name(const std::string& name) {
  for (FissionPlacement p : {FissionPlacement::OnChip, FissionPlacement::OffChip, FissionPlacement::Compute16})
    if (name == fission_placement_name(p)) return p;
  DEFTNN_FAIL("unknown fission placement '{}' (known: onchip, offchip, compute16)", name);
}

GemmBackend resolve_backend(const Context& ctx, const GemmConfig& config) {
  if (config.backend != GemmBackend::Auto) return config.backend;
  if (!ctx.is_cuda()) return GemmBackend::CpuBlas;
  return config.format.kind == FormatKind::FP32 ? GemmBackend::Cublas : GemmBackend::Fission;
}

namespace {

void check_args(const GemmArgs& a) {
  DEFTNN_CHECK(a.M >= 0 && a.N >= 0 && a.K >= 0, "GEMM with negative size M={} N={} K={}", a.M, a.N, a.K);
  DEFTNN_CHECK(a.C != nullptr || a.M * a.N == 0, "GEMM without an output");
  DEFTNN_CHECK((a.A && a.B) || a.K == 0 || a.M * a.N == 0, "GEMM without inputs (M={} N={} K={})", a.M, a.N, a.K);
}

}  // namespace

GemmArgs with_tight_strides(GemmArgs a) {
  if (!a.lda) a.lda = a.trans_a ? a.M : a.K;
  if (!a.ldb) a.ldb = a.trans_b ? a.K : a.N;
  if (!a.ldc) a.ldc = a.trans_c ? a.M : a.N;
  DEFTNN_CHECK(a.lda >= (a.trans_a ? a.M : a.K) && a.ldb >= (a.trans_b ? a.K : a.N) &&
                   a.ldc >= (a.trans_c ? a.M : a.N),
               "GEMM strides too small: lda={} ldb={} ldc={} for M={} N={} K={}", a.lda, a.ldb, a.ldc, a.M,
               a.N, a.K);
  return a;
}

void cpu_blas_gemm(const GemmArgs& a) {
  if (a.M == 0 || a.N == 0) return;
  // K == 0 still scales C by beta; sgemm handles it.
  if (a.trans_c) {
    // C^T (N x M) = op(B)^T op(A)^T
    cblas_sgemm(CblasRowMajor, a.trans_b ? CblasNoTrans : CblasTrans, a.trans_a ? CblasNoTrans : CblasTrans,
                int(a.N), int(a.M), int(a.K), a.alpha, a.B, int(a.ldb), a.A, int(a.lda), a.beta, a.C, int(a.ldc));
    return;
  }
  cblas_sgemm(CblasRowMajor, a.trans_a ? CblasTrans : CblasNoTrans, a.trans_b ? CblasTrans : CblasNoTrans,
              int(a.M), int(a.N), int(a.K), a.alpha, a.A, int(a.lda), a.B, int(a.ldb), a.beta, a.C, int(a.ldc));
}

void gemm(Context& ctx, const GemmArgs& args, const GemmConfig& config) {
  check_args(args);
  GemmArgs a = with_tight_strides(args);
  GemmBackend b = resolve_backend(ctx, config);
  bool gpu_backend = b != GemmBackend::CpuBlas;
  DEFTNN_CHECK(gpu_backend == ctx.is_cuda(), "GEMM backend {} cannot run on a {} context", gemm_backend_name(b),
               device_name(ctx.device()));
  switch (b) {
    case GemmBackend::CpuBlas: cpu_blas_gemm(a); return;
    case GemmBackend::Cublas:
    case GemmBackend::CublasTF32:
    case GemmBackend::CublasBF16: cublas_gemm(ctx, a, b); return;
    case GemmBackend::Fission: fission_gemm(ctx, a, config); return;
    case GemmBackend::Auto: break;
  }
  DEFTNN_FAIL("unreachable GEMM backend");
}

}  // namespace deftnn
