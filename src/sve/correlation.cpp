#include "sve/correlation.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gemm/gemm.h"
#include "sve/correlation_kernels.h"

namespace deftnn::sve {

namespace {

// Z (M, K) and the constant-column flags on the CPU (fp64 statistics).
void centre_columns_cpu(const float* w, int64_t M, int64_t K, float* z, int32_t* constant) {
  std::vector<double> mean(size_t(K), 0.0), ss(size_t(K), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) mean[size_t(k)] += w[m * K + k];
  for (auto& v : mean) v /= double(std::max<int64_t>(M, 1));
  std::vector<char> is_const(size_t(K), 1);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) {
      double d = w[m * K + k] - mean[size_t(k)];
      ss[size_t(k)] += d * d;
      if (w[m * K + k] != w[k]) is_const[size_t(k)] = 0;
    }
  for (int64_t k = 0; k < K; ++k) constant[k] = is_const[size_t(k)] || ss[size_t(k)] == 0.0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k)
      z[m * K + k] = constant[k] ? 0.f : float((double(w[m * K + k]) - mean[size_t(k)]) / std::sqrt(ss[size_t(k)]));
}

void fix_correlation_cpu(float* rho, int64_t K, const int32_t* constant) {
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = i; j < K; ++j) {
      float r = std::clamp(rho[i * K + j], -1.f, 1.f);
      if (i == j || (constant[i] && constant[j])) r = 1.f;
      rho[i * K + j] = rho[j * K + i] = r;
    }
}

}  // namespace

Tensor correlation_matrix(Context& ctx, const Tensor& w) {
  DEFTNN_CHECK(w.ndim() >= 2 && w.dtype() == DType::F32, "correlation_matrix wants an F32 (M, K...) weight, got {} {}",
               dtype_name(w.dtype()), shape_str(w.shape()));
  const int64_t M = w.dim(0), K = w.numel() / std::max<int64_t>(M, 1);
  DEFTNN_CHECK(M >= 1 && K >= 1, "correlation_matrix of an empty weight {}", shape_str(w.shape()));
  Tensor wd = w.device() == ctx.device() ? w : w.to(ctx.device(), ctx);
  Tensor z = Tensor::empty({M, K}, DType::F32, ctx.device());                  // (M, K)
  Tensor constant = Tensor::empty({K}, DType::I32, ctx.device());             // (K)
  Tensor rho = Tensor::empty({K, K}, DType::F32, ctx.device());               // (K, K)
  if (ctx.is_cuda())
    cuda::centre_columns(ctx, wd.data<float>(), M, K, z.data<float>(), constant.data<int32_t>());
  else
    centre_columns_cpu(wd.data<float>(), M, K, z.data<float>(), constant.data<int32_t>());
  // rho (K, K) = Z^T (K, M) * Z (M, K).
  GemmArgs g;
  g.M = K, g.N = K, g.K = M;
  g.trans_a = true;
  g.A = z.data<float>(), g.lda = K;
  g.B = z.data<float>(), g.ldb = K;
  g.C = rho.data<float>(), g.ldc = K;
  gemm(ctx, g);
  if (ctx.is_cuda())
    cuda::fix_correlation(ctx, rho.data<float>(), K, constant.data<int32_t>());
  else
    fix_correlation_cpu(rho.data<float>(), K, constant.data<int32_t>());
  return rho;
}

}  // namespace deftnn::sve
