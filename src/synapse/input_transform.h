// The run-time input transforms of synapse vector elimination (section 4.1.1).
//
// The truncated weight W' (M, K') multiplies only the kept synapse rows of the
// input, in the plan's order (sve/plan.h). Two layouts:
//   rows:    X (K, n) row-major, row stride ldx >= n: the GEMM's B operand as
//            conv's im2col writes it; synapse k is row k.
//   columns: X (rows, K) row-major, row stride ldx >= K: a linear layer's input
//            (batch, features); synapse k is column k.
// Two transforms each:
//   swap: the paper's reorder, in place: for each pair (a, b) of the plan
//         (a kept >= K', b discarded < K') exchange rows (columns) a and b; the
//         leading K' rows (columns) are then the kept ones in the plan's order
//         and the GEMM reads them with the unchanged stride. The pairs are
//         disjoint, so applying swap again restores X.
//   copy: gather the kept rows (columns) into a separate (K', n) ((rows, K'))
//         buffer with row stride ldy (Figure 6's "copy all retained synapses").
// All pointers (data and indices) live on ctx's device: the CPU runs loops,
// CUDA runs kernels on ctx's stream. `pairs` is flattened (a0, b0, a1, b1, ...),
// as SveState::swaps_device holds it.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/context.h"

namespace deftnn::sve {

void swap_rows(Context& ctx, float* x, int64_t n, int64_t ldx, const int32_t* pairs, int64_t num_pairs);
void copy_rows(Context& ctx, const float* x, int64_t n, int64_t ldx, const int32_t* kept, int64_t kept_k, float* y,
               int64_t ldy);
void swap_cols(Context& ctx, float* x, int64_t rows, int64_t ldx, const int32_t* pairs, int64_t num_pairs);
void copy_cols(Context& ctx, const float* x, int64_t rows, int64_t ldx, const int32_t* kept, int64_t kept_k,
               float* y, int64_t ldy);

// The swap pairs as the flat (a0, b0, a1, b1, ...) array the transforms take.
std::vector<int32_t> flatten_pairs(const std::vector<std::pair<int32_t, int32_t>>& pairs);

}  // namespace deftnn::sve
