// Channel-granular synapse search: a layer's K synapse vectors taken in
// groups of `group` consecutive columns of W (M, K), eliminated or kept as a
// whole. For a conv, K = C_in/groups * kh * kw and im2col orders the rows
// channel-major, so group = kh * kw makes one group per input channel; for a
// linear layer that reads a flattened (C, H, W) tensor, group = H * W makes
// one group per channel of the producing conv (ONNX export then drops whole
// channels: src/export/).
//
// Group criterion: Pearson correlation between the groups' flattened column
// blocks, i.e. each group is the vector of its M * group weights
// W[m, g*group + t], centred and scaled to unit norm (the paper's equation 6
// applied to blocks). rho_gh = 1 exactly when group h's filter slices are a
// positive scaled (or shifted) copy of group g's, the case where one input
// channel can stand in for another through the same filter; the greedy
// search, keep-count bisection and top-up of search.h then run unchanged on
// the (G, G) matrix. The weight rebuild (the paper's K / K' scale or sve-ls's
// least squares, reconstruct.h) takes the expanded column set as it is, so it
// stays consistent: sve-ls refits every kept column from the statistics of
// whole kept channels.
#pragma once

#include <cstdint>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "sve/search.h"

namespace deftnn::sve {

// rho (G, G), G = K / group, of the groups' flattened blocks of w (M, K);
// group = 1 is correlation_matrix(w). Throws unless group divides K.
// Returned on the CPU.
Tensor group_correlation_matrix(Context& ctx, const Tensor& w, int64_t group);

// The group-level alignment: kept columns (kept groups * group) must be a
// multiple of `align`, so kept groups a multiple of align / gcd(align, group).
int64_t group_align(int64_t align, int64_t group);

// A search over groups (k = G) as one over the K = G * group columns: kept
// groups -> all their columns; representative column t of a discarded group
// -> column t of its representative group; the counts scaled by group.
SearchResult expand_groups(const SearchResult& groups, int64_t group);

// The whole channel-granular search, in the two modes of search.h: options.
// align counts columns (group_align converts it). keep_groups = 0: greedy at
// options.alpha; else exactly that many groups (rounded up to the alignment).
SearchResult group_search(const Tensor& rho_groups, int64_t group, int64_t keep_groups, const SearchOptions& options);

// The L1 baseline over groups: the `kept_groups` groups of w (M, K) with the
// largest L1 norm (ties: the smaller index), expanded to ascending columns.
std::vector<int32_t> l1_keep_groups(const Tensor& w, int64_t group, int64_t kept_groups);

// Whether `kept` (any order) is a union of whole groups of `group` columns.
bool whole_groups(const std::vector<int32_t>& kept, int64_t group);

}  // namespace deftnn::sve
