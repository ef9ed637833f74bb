// Synapse search (section 4.1.2, equations 6-7) and the L1 baseline.
//
// Greedy search at threshold alpha: synapse vector i represents j when
// rho_ij >= alpha (a vector represents itself). Among the vectors not yet
// decided, R_i counts those i represents (equation 7); the one with the largest
// R_i is kept (ties: the smallest index) and every undecided vector it
// represents is discarded with it. Repeat until every vector is kept or
// discarded. Fully deterministic: no randomness, ties broken by index, rho is
// exactly symmetric (correlation_matrix copies its upper triangle down).
//
// rho is computed in fp32 (see correlation.h), so the test is
// rho_ij >= alpha - tolerance, tolerance 1e-5 by default: at alpha = 1 exact
// duplicates (and positively scaled or shifted copies) are found.
//
// Grouped convolution: the weight is searched as one (C_out, K) matrix, the
// rows of every group together; the kept K positions are shared by all groups.
//
// Hardware alignment: users of pruning tools ask for kept counts that are a
// multiple of the GEMM tile's K. With align > 1 the kept count is rounded up
// to a multiple of align (capped at K) by re-adding discarded vectors, each
// time the one least well represented by the kept set (the smallest maximum
// correlation to a kept vector; ties: the smallest index). The result reports
// both counts.
//
// Keep-count mode (search_keep_count): for a target kept count rather than an
// alpha, needed where weights carry no structure (random-weight CaffeNet in
// the speed tests: every |rho| is about 1/sqrt(M)). alpha is bisected for the
// largest value whose greedy kept count is at most the target, then the count
// is topped up to exactly the target by the same re-adding rule as the
// rounding. The alpha found is reported.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/tensor.h"

namespace deftnn::sve {

struct SearchOptions {
  double alpha = 0.9;        // representative correlation threshold
  int64_t align = 1;         // round the kept count up to a multiple of this (1 = no rounding)
  double tolerance = 1e-5;   // rho_ij >= alpha - tolerance counts as representing
};

struct SearchResult {
  int64_t k = 0;                        // K, the number of synapse vectors
  std::vector<int32_t> kept;            // ascending indices in [0, K)
  std::vector<int32_t> representative;  // (K): the kept index that represents each vector (itself when kept)
  double alpha = 0;                     // the threshold used (found, in keep-count mode)
  int64_t align = 1;
  int64_t kept_by_search = 0;           // kept count before rounding / topping up
  int64_t added_by_rounding = 0;        // vectors re-added to reach the aligned / target count
  double density() const { return k ? double(kept.size()) / double(k) : 1.0; }
  nlohmann::json to_json() const;       // the counts and alpha (not the index lists)
};

// The smallest multiple of align that is >= kept, capped at K.
int64_t round_up_kept(int64_t kept, int64_t align, int64_t K);

// How many of K synapse vectors a layer keeps at `density` (in (0, 1]): the
// nearest integer to density * K (halves up), at least 1, then rounded up to a
// multiple of align (capped at K). The one rule for turning a density into a
// kept count (sve::eliminate, the optimiser's keep-count mode).
int64_t kept_count(double density, int64_t K, int64_t align = 1);

// rho: (K, K) F32 on the CPU, from correlation_matrix().
SearchResult greedy_search(const Tensor& rho, const SearchOptions& options);

// Exactly `target_kept` vectors (after rounding target_kept up to
// options.align); options.alpha is ignored.
SearchResult search_keep_count(const Tensor& rho, int64_t target_kept, const SearchOptions& options);

// The L1 baseline (structured pruning of the same columns): keep the
// `kept_count` columns of w (M, K) with the largest L1 norm (ties: the smaller
// index). w on the CPU. Returns ascending indices.
std::vector<int32_t> l1_keep(const Tensor& w, int64_t kept_count);

}  // namespace deftnn::sve
