#include "sve/reconstruct.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "gemm/gemm.h"

namespace deftnn::sve {

void InputStats::add_columns(Context& cpu, const float* x, int64_t n, int64_t ld) {
  DEFTNN_CHECK(!cpu.is_cuda(), "InputStats::add_columns wants a CPU context");
  DEFTNN_CHECK(n >= 0 && ld >= n, "InputStats::add_columns: n = {}, ld = {}", n, ld);
  if (n == 0 || k == 0) return;
  for (int64_t i = 0; i < k; ++i) {
    double s = 0;
    for (int64_t c = 0; c < n; ++c) s += double(x[i * ld + c]);
    sum[size_t(i)] += s;
  }
  Tensor g = Tensor::empty({k, k});
  GemmArgs a;
  a.M = k, a.N = k, a.K = n;
  a.A = x, a.lda = ld;
  a.B = x, a.ldb = ld, a.trans_b = true;  // B (n, K) stored as x (K, n)
  a.C = g.data<float>(), a.ldc = k;
  gemm(cpu, a);
  const float* gp = g.data<float>();
  for (int64_t i = 0; i < k * k; ++i) gram[size_t(i)] += double(gp[i]);
  count += n;
}

std::vector<double> InputStats::mean() const {
  DEFTNN_CHECK(count > 0, "InputStats: no columns accumulated");
  std::vector<double> m(sum);
  for (double& v : m) v /= double(count);
  return m;
}

std::vector<double> InputStats::covariance() const {
  std::vector<double> m = mean(), c(gram);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) c[size_t(i * k + j)] = c[size_t(i * k + j)] / double(count) - m[size_t(i)] * m[size_t(j)];
  return c;
}

namespace {

// In-place Cholesky of the SPD (n, n) matrix a (lower triangle used); returns
// false when a pivot is not positive.
bool cholesky(std::vector<double>& a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double d = a[size_t(j * n + j)];
    for (int64_t p = 0; p < j; ++p) d -= a[size_t(j * n + p)] * a[size_t(j * n + p)];
    if (!(d > 0)) return false;
    d = std::sqrt(d);
    a[size_t(j * n + j)] = d;
    for (int64_t i = j + 1; i < n; ++i) {
      double s = a[size_t(i * n + j)];
      for (int64_t p = 0; p < j; ++p) s -= a[size_t(i * n + p)] * a[size_t(j * n + p)];
      a[size_t(i * n + j)] = s / d;
    }
  }
  return true;
}

// Solves L L^T x = b in place for one right-hand side.
void cholesky_solve(const std::vector<double>& l, int64_t n, double* b) {
  for (int64_t i = 0; i < n; ++i) {
    double s = b[i];
    for (int64_t p = 0; p < i; ++p) s -= l[size_t(i * n + p)] * b[p];
    b[i] = s / l[size_t(i * n + i)];
  }
  for (int64_t i = n - 1; i >= 0; --i) {
    double s = b[i];
    for (int64_t p = i + 1; p < n; ++p) s -= l[size_t(p * n + i)] * b[p];
    b[i] = s / l[size_t(i * n + i)];
  }
}

}  // namespace

Reconstruction reconstruct_weight(const SvePlan& plan, const Tensor& w, const InputStats& stats, double ridge) {
  DEFTNN_CHECK(w.ndim() >= 2 && w.dtype() == DType::F32 && !w.is_cuda(),
               "reconstruct_weight wants an F32 (M, K...) weight on the CPU, got {} {}", dtype_name(w.dtype()),
               shape_str(w.shape()));
  const int64_t M = w.dim(0), K = w.numel() / std::max<int64_t>(M, 1), Kp = plan.kept_k();
  DEFTNN_CHECK(K == plan.original_k && K == stats.k,
               "reconstruct_weight: weight {} (K={}), plan K={}, input statistics K={}", shape_str(w.shape()), K,
               plan.original_k, stats.k);
  DEFTNN_CHECK(ridge >= 0, "reconstruct_weight: ridge {} < 0", ridge);
  const std::vector<double> mu = stats.mean(), cov = stats.covariance();
  const std::vector<int32_t>& S = plan.kept;
  // A = Sigma[S, S] + lambda I.
  std::vector<double> A(size_t(Kp * Kp));
  double diag = 0;
  for (int64_t a = 0; a < Kp; ++a) diag += cov[size_t(S[size_t(a)]) * size_t(K) + size_t(S[size_t(a)])];
  const double lambda = ridge * diag / double(Kp) + 1e-12;
  for (int64_t a = 0; a < Kp; ++a)
    for (int64_t b = 0; b < Kp; ++b)
      A[size_t(a * Kp + b)] = cov[size_t(S[size_t(a)]) * size_t(K) + size_t(S[size_t(b)])] + (a == b ? lambda : 0.0);
  DEFTNN_CHECK(cholesky(A, Kp), "reconstruct_weight: Sigma[S, S] + {} I is not positive definite (K'={})", lambda, Kp);
  Reconstruction r;
  r.weight = Tensor::empty({M, Kp});
  r.bias_delta.assign(size_t(M), 0.f);
  const float* wp = w.data<float>();
  float* out = r.weight.data<float>();
  std::vector<double> rhs(static_cast<size_t>(Kp));
  for (int64_t m = 0; m < M; ++m) {
    // Row m of W' solves A w'^T = Sigma[S, :] w_m^T (A symmetric).
    const float* wm = wp + m * K;
    for (int64_t a = 0; a < Kp; ++a) {
      const double* crow = cov.data() + size_t(S[size_t(a)]) * size_t(K);
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += crow[k] * double(wm[k]);
      rhs[size_t(a)] = s;
    }
    cholesky_solve(A, Kp, rhs.data());
    double wmu = 0, wpmu = 0;
    for (int64_t k = 0; k < K; ++k) wmu += double(wm[k]) * mu[size_t(k)];
    for (int64_t a = 0; a < Kp; ++a) {
      out[m * Kp + a] = float(rhs[size_t(a)]);
      wpmu += rhs[size_t(a)] * mu[size_t(S[size_t(a)])];
    }
    r.bias_delta[size_t(m)] = float(wmu - wpmu);
  }
  return r;
}

}  // namespace deftnn::sve
