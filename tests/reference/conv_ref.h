// Plain-loop fp64 references for Conv2d and Linear: direct convolution (no
// im2col), its gradients, and the matching sums of |terms| from which the
// tests derive their tolerances.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace deftnn::test {

struct ConvRefShape {
  int64_t N, C, H, W, out, kh, kw, sh, sw, ph, pw, groups;
  int64_t Ho() const { return (H + 2 * ph - kh) / sh + 1; }
  int64_t Wo() const { return (W + 2 * pw - kw) / sw + 1; }
  int64_t Cg() const { return C / groups; }
  int64_t K() const { return Cg() * kh * kw; }
};

// Results of the reference: y = conv(x, w) + b and, from dy, dx, dw, db.
// With `absolute`, every term is replaced by its magnitude (sum |w x|, ...):
// the scale of the fp32 rounding error of each element.
struct ConvRef {
  std::vector<double> y, dx, dw, db;
};

// w is (out, Cg, kh, kw) (a full weight; a truncated SVE weight is first
// expanded with zeros at the discarded positions).
inline ConvRef conv_reference(const ConvRefShape& s, const std::vector<double>& x, const std::vector<double>& w,
                              const std::vector<double>& b, const std::vector<double>& dy, bool absolute = false) {
  auto f = [absolute](double v) { return absolute ? std::fabs(v) : v; };
  const int64_t Ho = s.Ho(), Wo = s.Wo(), Cg = s.Cg(), Mg = s.out / s.groups;
  ConvRef r;
  r.y.assign(size_t(s.N * s.out * Ho * Wo), 0.0);
  r.dx.assign(x.size(), 0.0);
  r.dw.assign(w.size(), 0.0);
  r.db.assign(size_t(s.out), 0.0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.out; ++o) {
      const int64_t g = o / Mg;
      for (int64_t ho = 0; ho < Ho; ++ho)
        for (int64_t wo = 0; wo < Wo; ++wo) {
          const int64_t yi = ((n * s.out + o) * Ho + ho) * Wo + wo;
          double acc = b.empty() ? 0.0 : f(b[size_t(o)]);
          const double d = dy.empty() ? 0.0 : dy[size_t(yi)];
          if (!dy.empty()) r.db[size_t(o)] += f(d);
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < s.kh; ++i)
              for (int64_t j = 0; j < s.kw; ++j) {
                const int64_t h = ho * s.sh - s.ph + i, ww = wo * s.sw - s.pw + j;
                if (h < 0 || h >= s.H || ww < 0 || ww >= s.W) continue;
                const size_t xi = size_t(((n * s.C + g * Cg + c) * s.H + h) * s.W + ww);
                const size_t wi = size_t(((o * Cg + c) * s.kh + i) * s.kw + j);
                acc += f(w[wi] * x[xi]);
                if (!dy.empty()) {
                  r.dx[xi] += f(w[wi] * d);
                  r.dw[wi] += f(x[xi] * d);
                }
              }
          r.y[size_t(yi)] = acc;
        }
    }
  return r;
}

// Linear: y (N, out) = x (N, F) w^T + b; gradients from dy.
inline ConvRef linear_reference(int64_t N, int64_t F, int64_t out, const std::vector<double>& x,
                                const std::vector<double>& w, const std::vector<double>& b,
                                const std::vector<double>& dy, bool absolute = false) {
  auto f = [absolute](double v) { return absolute ? std::fabs(v) : v; };
  ConvRef r;
  r.y.assign(size_t(N * out), 0.0);
  r.dx.assign(size_t(N * F), 0.0);
  r.dw.assign(size_t(out * F), 0.0);
  r.db.assign(size_t(out), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < out; ++o) {
      double acc = b.empty() ? 0.0 : f(b[size_t(o)]);
      const double d = dy.empty() ? 0.0 : dy[size_t(n * out + o)];
      if (!dy.empty()) r.db[size_t(o)] += f(d);
      for (int64_t k = 0; k < F; ++k) {
        acc += f(w[size_t(o * F + k)] * x[size_t(n * F + k)]);
        if (!dy.empty()) {
          r.dx[size_t(n * F + k)] += f(w[size_t(o * F + k)] * d);
          r.dw[size_t(o * F + k)] += f(x[size_t(n * F + k)] * d);
        }
      }
      r.y[size_t(n * out + o)] = acc;
    }
  return r;
}

// A truncated SVE weight (rows x kept.size()) expanded to (rows x K) with
// zeros at the discarded columns.
inline std::vector<double> expand_truncated(const std::vector<float>& wt, int64_t rows, int64_t K,
                                            const std::vector<int32_t>& kept) {
  std::vector<double> w(size_t(rows * K), 0.0);
  const int64_t Kp = int64_t(kept.size());
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t t = 0; t < Kp; ++t) w[size_t(o * K + kept[size_t(t)])] = wt[size_t(o * Kp + t)];
  return w;
}

// Columns `kept` of a (rows x K) matrix, in that order.
inline std::vector<double> take_columns(const std::vector<double>& m, int64_t rows, int64_t K,
                                        const std::vector<int32_t>& kept) {
  std::vector<double> out;
  out.reserve(size_t(rows) * kept.size());
  for (int64_t o = 0; o < rows; ++o)
    for (int32_t k : kept) out.push_back(m[size_t(o * K + k)]);
  return out;
}

// fp32 rounding bound used by the layer tests: a sum of n terms in fp32
// (GEMM, any order) is off by at most about eps * sqrt(n) * sum|terms| for
// random signs (worst case eps * n); 4x margin, plus a floor for zero sums.
inline std::vector<double> fp32_tolerance(const std::vector<double>& abs_sums, int64_t n_terms) {
  const double eps = 1.1920929e-7;
  std::vector<double> t(abs_sums.size());
  for (size_t i = 0; i < t.size(); ++i)
    t[i] = 4 * eps * std::sqrt(double(n_terms > 0 ? n_terms : 1)) * abs_sums[i] + 1e-30;
  return t;
}

}  // namespace deftnn::test

#include <gtest/gtest.h>

#include <string>

namespace deftnn::test {

// |got - ref| <= tol[i] elementwise (and got finite). On failure: the count,
// the first mismatches and the worst error relative to its tolerance.
inline ::testing::AssertionResult close_within(const std::vector<float>& got, const std::vector<double>& ref,
                                               const std::vector<double>& tol, const std::string& what) {
  if (got.size() != ref.size() || tol.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": size " << got.size() << " vs reference " << ref.size();
  size_t bad = 0, worst = 0;
  double worst_ratio = -1;
  std::string first;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::isfinite(got[i]) ? std::fabs(double(got[i]) - ref[i]) : INFINITY;
    const double ratio = err / tol[i];
    if (!(err <= tol[i])) {
      if (bad < 5)
        first += "\n  [" + std::to_string(i) + "] got " + std::to_string(got[i]) + " want " + std::to_string(ref[i]) +
                 " tol " + std::to_string(tol[i]);
      ++bad;
    }
    if (ratio > worst_ratio) worst_ratio = ratio, worst = i;
  }
  if (!bad) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << got.size() << " elements off" << first
                                       << "\n  worst [" << worst << "] error/tolerance " << worst_ratio;
}

inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

}  // namespace deftnn::test
