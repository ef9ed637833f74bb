#include "gemm/gemm.h"

#include <cblas.h>

#include "gemm/backends.h"
#include "gemm/lowp.h"

namespace deftnn {

const char* gemm_backend_name(GemmBackend b) {
  switch (b) {
    case GemmBackend::CpuBlas: return "cpu-blas";
    case GemmBackend::Cublas: return "cublas";
    case GemmBackend::CublasTF32: return "cublas-tf32";
    case GemmBackend::Fission: return "fission";
    case GemmBackend::CublasLt: return "cublaslt";
    case GemmBackend::CpuEmulated: return "cpu-emulated";
    case GemmBackend::Mixed: return "mixed";
    case GemmBackend::CpuMixed: return "cpu-mixed";
  }
  return "?";
}

namespace {

// The kernel family Auto stands for on a device.
KernelFamily concrete_kernel(const GemmConfig& c, Device device) {
  if (c.kernel != KernelFamily::Auto) return c.kernel;
  if (device == Device::CPU) return KernelFamily::CpuBlas;
  return c.format.kind == FormatKind::FP32 ? KernelFamily::Cublas : KernelFamily::Fission;
}

// The rules for the tensor-core input precisions (bf16, fp16, fp8e4m3).
std::string lowp_can_implement(const GemmConfig& c, Device device) {
  const char* p = precision_name(c.precision);
  if (c.format.kind != FormatKind::FP32)
    return DEFTNN_FORMAT("precision {} takes fp32 weights (converted once to {}); format {} is a fission format, "
                         "whose kernels multiply in fp32 (or half2 with placement compute16): use format fp32 with "
                         "{}, or precision fp32 with {}",
                         p, p, c.format.name(), p, c.format.name());
  switch (c.kernel) {
    case KernelFamily::Auto: return "";
    case KernelFamily::CpuBlas:
      if (device != Device::CPU) return "kernel cpu-blas runs on the CPU only; on CUDA: auto, cublas, cudnn, fission";
      return "";  // emulated: inputs rounded to the precision, then sgemm
    case KernelFamily::Cublas:
      if (device != Device::CUDA)
        return DEFTNN_FORMAT("kernel cublas runs on CUDA only; precision {} on the CPU: auto, cpu-blas (emulated)", p);
      return "";
    case KernelFamily::Fission:
      return DEFTNN_FORMAT("precision {} runs on cublas (cuBLASLt tensor cores) or, on the CPU, cpu-blas (emulated); "
                           "the fission kernels multiply in fp32",
                           p);
    case KernelFamily::Cudnn: break;
    case KernelFamily::Mixed:
      return DEFTNN_FORMAT("kernel mixed takes bf16 activations (precision bf16, or fp32 meaning the same); "
                           "precision {} runs on cublas or cpu-blas",
                           p);
  }
  return "kernel cudnn runs whole convolutions, not GEMMs; GEMM kernels: auto, cpu-blas, cublas, fission, mixed";
}

// Kernel mixed: narrow weights (config.weights) with bf16 activations.
std::string mixed_can_implement(const GemmConfig& c) {
  if (c.precision != Precision::FP32 && c.precision != Precision::BF16)
    return DEFTNN_FORMAT("kernel mixed takes bf16 activations (precision bf16, or fp32 meaning the same), not {}",
                         precision_name(c.precision));
  if (c.format.kind != FormatKind::FP32)
    return DEFTNN_FORMAT("kernel mixed stores the weights in its own format ({}); format {} belongs to kernel "
                         "fission: use one or the other",
                         c.weights.name(), c.format.name());
  return "";
}

}  // namespace

std::string gemm_can_implement(const GemmConfig& c, Device device) {
  if (c.kernel == KernelFamily::Mixed) return mixed_can_implement(c);
  if (is_lowp_precision(c.precision)) return lowp_can_implement(c, device);
  const bool fp32_format = c.format.kind == FormatKind::FP32;
  if (c.precision == Precision::TF32 && device == Device::CPU)
    return "precision tf32 runs on cublas (CUDA) only; on the CPU: fp32";
  const KernelFamily k = concrete_kernel(c, device);
  // Auto on the CPU runs fp32 whatever the weight format: a model tuned for
  // the GPU still evaluates there (the format is a GPU storage choice).
  if (c.kernel == KernelFamily::Auto && device == Device::CPU) return "";
  if (!fp32_format && device == Device::CPU)
    return DEFTNN_FORMAT("format {} runs on the fission kernels, CUDA only; on the CPU: fp32", c.format.name());
  switch (k) {
    case KernelFamily::Auto: break;
    case KernelFamily::CpuBlas:
      if (device != Device::CPU) return "kernel cpu-blas runs on the CPU only; on CUDA: auto, cublas, cudnn, fission";
      break;
    case KernelFamily::Cublas:
    case KernelFamily::Fission:
      if (device != Device::CUDA)
        return DEFTNN_FORMAT("kernel {} runs on CUDA only; on the CPU: auto, cpu-blas", kernel_family_name(k));
      break;
    case KernelFamily::Cudnn:
      return "kernel cudnn runs whole convolutions, not GEMMs; GEMM kernels: auto, cpu-blas, cublas, fission, mixed";
    case KernelFamily::Mixed: break;  // mixed_can_implement
  }
  if (c.precision == Precision::TF32 && k != KernelFamily::Cublas)
    return DEFTNN_FORMAT("precision tf32 runs on cublas only, not {}", kernel_family_name(k));
  if (!fp32_format && k != KernelFamily::Fission)
    return DEFTNN_FORMAT("format {} is a fission format: it needs kernel fission (or auto); {} reads fp32 weights",
                         c.format.name(), kernel_family_name(k));
  return "";
}

GemmPlan resolve_gemm(const Context& ctx, const GemmConfig& c) {
  const std::string why = gemm_can_implement(c, ctx.device());
  DEFTNN_CHECK(why.empty(), "GEMM on {}: {}", device_name(ctx.device()), why);
  GemmPlan p;
  p.format = c.format, p.placement = c.placement, p.precision = c.precision;
  if (c.kernel == KernelFamily::Mixed) {
    p.backend = ctx.is_cuda() ? GemmBackend::Mixed : GemmBackend::CpuMixed;
    p.precision = Precision::BF16, p.weights = c.weights, p.mixed_choice = c.mixed_choice;
    return p;
  }
  if (is_lowp_precision(c.precision)) {
    p.backend = ctx.is_cuda() ? GemmBackend::CublasLt : GemmBackend::CpuEmulated;
    return p;
  }
  switch (concrete_kernel(c, ctx.device())) {
    case KernelFamily::CpuBlas: p.backend = GemmBackend::CpuBlas; break;
    case KernelFamily::Cublas:
      p.backend = c.precision == Precision::TF32 ? GemmBackend::CublasTF32 : GemmBackend::Cublas;
      break;
    case KernelFamily::Fission: p.backend = GemmBackend::Fission; break;
    case KernelFamily::Auto:
    case KernelFamily::Mixed:
    case KernelFamily::Cudnn: DEFTNN_FAIL("unreachable GEMM kernel {}", kernel_family_name(c.kernel));
  }
  return p;
}

namespace {

void check_args(const GemmArgs& a) {
  DEFTNN_CHECK(a.M >= 0 && a.N >= 0 && a.K >= 0, "GEMM with negative size M={} N={} K={}", a.M, a.N, a.K);
  DEFTNN_CHECK(a.C != nullptr || a.M * a.N == 0, "GEMM without an output");
  DEFTNN_CHECK((a.A && (a.B || a.lowp_b)) || a.K == 0 || a.M * a.N == 0, "GEMM without inputs (M={} N={} K={})",
               a.M, a.N, a.K);
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

void gemm(Context& ctx, const GemmArgs& args, const GemmPlan& plan) {
  check_args(args);
  GemmArgs a = with_tight_strides(args);
  DEFTNN_CHECK(!a.lowp_b || (plan.backend == GemmBackend::CublasLt &&
                             (plan.precision == Precision::BF16 || plan.precision == Precision::FP16)),
               "GEMM: a pre-converted B (lowp_b) needs the cublaslt backend in bf16 or fp16, not {} in {}",
               gemm_backend_name(plan.backend), precision_name(plan.precision));
  const bool gpu_backend = plan.backend != GemmBackend::CpuBlas && plan.backend != GemmBackend::CpuEmulated &&
                           plan.backend != GemmBackend::CpuMixed;
  DEFTNN_CHECK(gpu_backend == ctx.is_cuda(), "GEMM backend {} cannot run on a {} context",
               gemm_backend_name(plan.backend), device_name(ctx.device()));
  switch (plan.backend) {
    case GemmBackend::CpuBlas: cpu_blas_gemm(a); return;
    case GemmBackend::Cublas: cublas_gemm(ctx, a, false); return;
    case GemmBackend::CublasTF32: cublas_gemm(ctx, a, true); return;
    case GemmBackend::Fission: fission_gemm(ctx, a, plan); return;
    case GemmBackend::CublasLt: cublaslt_gemm(ctx, a, plan.precision); return;
    case GemmBackend::CpuEmulated: cpu_emulated_gemm(ctx, a, plan.precision); return;
    case GemmBackend::Mixed:
    case GemmBackend::CpuMixed: mixed_backend_gemm(ctx, a, plan); return;
  }
  DEFTNN_FAIL("unreachable GEMM backend");
}

void gemm(Context& ctx, const GemmArgs& args, const GemmConfig& config) { gemm(ctx, args, resolve_gemm(ctx, config)); }

}  // namespace deftnn
