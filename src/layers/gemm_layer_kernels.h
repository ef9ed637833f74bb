// The small data-movement kernels around the GEMM of Conv2d and Linear
// (bias, layout permutes, SVE gathers and swaps), on the CPU and on CUDA.
// All pointers live on ctx's device; index arrays (int32) too.
#pragma once

#include <cstdint>

#include "core/context.h"

namespace deftnn {

// y (nb, C, HW) [n][c][p] = out (C, nb*HW) [c][n*HW + p] + bias[c] (bias may be
// null). out == y is allowed when nb == 1 (an in-place bias add). With relu,
// every value v becomes v > 0 ? v : slope * v after the bias (the inference
// fusion of a following ReLU layer).
void bias_permute(Context& ctx, const float* out, const float* bias, int64_t nb, int64_t C, int64_t HW, float* y,
                  bool relu = false, float slope = 0.f);
// The inverse layout change: out (C, nb*HW) from dy (nb, C, HW).
void unpermute(Context& ctx, const float* dy, int64_t nb, int64_t C, int64_t HW, float* out);
// dst (nrows, ld_dst) [n][idx[t]] = src (nrows, nidx) [n][t]; other columns untouched.
void scatter_cols(Context& ctx, const float* src, int64_t nrows, int64_t nidx, const int32_t* idx, float* dst,
                  int64_t ld_dst);
// dst[0..n) = src[0..n) (on CUDA: an asynchronous copy on ctx's stream).
void copy_f32(Context& ctx, const float* src, int64_t n, float* dst);
// y (nrows, ncols) [n][m] += bias[m] (bias may be null), then, with relu,
// v > 0 ? v : slope * v.
void add_row_bias(Context& ctx, float* y, int64_t nrows, int64_t ncols, const float* bias, bool relu = false,
                  float slope = 0.f);
// y (nrows, ncols) [c][j] += bias[c] (bias may be null), then, with relu,
// v > 0 ? v : slope * v: the epilogue of a conv whose output stays in GEMM
// order (CNHW, one row per channel).
void add_channel_bias(Context& ctx, float* y, int64_t nrows, int64_t ncols, const float* bias, bool relu = false,
                      float slope = 0.f);
// db[m] = sum over n of dy (nrows, ncols) [n][m].
void column_sums(Context& ctx, const float* dy, int64_t nrows, int64_t ncols, float* db);
// db[c] = sum over n, p of dy (nb, C, HW).
void channel_sums(Context& ctx, const float* dy, int64_t nb, int64_t C, int64_t HW, float* db);

namespace detail {
void bias_permute_cuda(Context&, const float*, const float*, int64_t, int64_t, int64_t, float*, bool, float);
void unpermute_cuda(Context&, const float*, int64_t, int64_t, int64_t, float*);
void scatter_cols_cuda(Context&, const float*, int64_t, int64_t, const int32_t*, float*, int64_t);
void copy_f32_cuda(Context&, const float*, int64_t, float*);
void add_row_bias_cuda(Context&, float*, int64_t, int64_t, const float*, bool, float);
void add_channel_bias_cuda(Context&, float*, int64_t, int64_t, const float*, bool, float);
void column_sums_cuda(Context&, const float*, int64_t, int64_t, float*);
void channel_sums_cuda(Context&, const float*, int64_t, int64_t, int64_t, float*);
}  // namespace detail

}  // namespace deftnn
