// Least-squares weight reconstruction after synapse vector elimination (our
// addition beside the paper's K / K' expectation correction, equation 5).
//
// A GEMM layer computes y = W x + b for an input column x (K) (conv: one im2col
// column; linear: one input row). SVE keeps the rows S of x (|S| = K') and
// the truncated weight W' (M, K'). The paper scales the kept columns by K / K'.
// Here W' and a bias correction are fitted to the layer's own output on real
// inputs instead: with the input mean mu (K) and covariance Sigma (K, K) over
// a sample of columns,
//
//   W' = W Sigma[:, S] (Sigma[S, S] + lambda I)^-1,   b' = b + W mu - W' mu[S],
//
// the minimiser of E || W x + b - (W' x[S] + b') ||^2 (plus lambda ||W'||^2),
// i.e. every discarded input row is replaced by its best linear estimate from
// the kept rows, and that estimate is folded into the kept columns once,
// offline. It is exact (up to fp64 rounding and lambda) whenever the
// discarded rows are affine functions of the kept ones, e.g. duplicated or
// scaled input rows (x_j = c x_r: W'[:, r] = W[:, r] + c W[:, j]).
// lambda = ridge * mean(diag Sigma[S, S]) (+ 1e-12) keeps the solve defined for
// dead (constant) inputs such as never-firing ReLUs.
#pragma once

#include <cstdint>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "sve/plan.h"

namespace deftnn::sve {

// Mean and covariance of the K input rows over the columns seen so far.
struct InputStats {
  int64_t k = 0;
  int64_t count = 0;            // columns accumulated
  std::vector<double> sum;      // (K)
  std::vector<double> gram;     // (K, K) row-major: sum of x x^T
  explicit InputStats(int64_t K = 0) : k(K), sum(size_t(K), 0.0), gram(size_t(K * K), 0.0) {}
  // Adds the n columns of x (K, n), row stride ld >= n (F32, CPU memory).
  // The Gram update goes through gemm() on `cpu` (a CPU context) in fp32 per
  // call, accumulated in fp64 across calls.
  void add_columns(Context& cpu, const float* x, int64_t n, int64_t ld);
  std::vector<double> mean() const;
  std::vector<double> covariance() const;  // (K, K), population (divides by count)
};

struct Reconstruction {
  Tensor weight;              // (M, K') in plan.kept order
  std::vector<float> bias_delta;  // (M): add to the layer's bias (zero-filled when the layer has none)
};

// w: (M, K...) F32 on the CPU, K = plan.original_k = stats.k. plan.scale is
// ignored (make the plan with scale = false). Throws on shape mismatches and
// when the regularised solve fails.
Reconstruction reconstruct_weight(const SvePlan& plan, const Tensor& w, const InputStats& stats, double ridge = 1e-4);

}  // namespace deftnn::sve
