// im2col / col2im in Caffe's convention, on the CPU and on CUDA, with an
// optional row subset (SVE's fused input transform).
//
// The column matrix of one group: row k = (c * kh + i) * kw + j for input
// channel c of the group and kernel offset (i, j), K = C * kh * kw rows;
// column n * Ho * Wo + ho * Wo + wo for image n of the batch and output
// position (ho, wo). With `rows` (nrows entries in [0, K)), only those rows
// are produced, in that order: row r of `col` is row rows[r] of the full
// matrix. This costs nothing beyond a plain im2col.
//
// All pointers live on ctx's device; on CUDA the work is queued on ctx's
// stream. `rows` must be on ctx's device too (SveState::kept_device).
#pragma once

#include <cstdint>

#include "core/context.h"
#include "layers/infer_args.h"
#include "plan/exec_types.h"

namespace deftnn {

// Geometry of one group of a convolution.
struct ConvGeom {
  int64_t C = 0, H = 0, W = 0;   // input channels of the group, input height and width
  int64_t kh = 1, kw = 1;        // kernel
  int64_t sh = 1, sw = 1;        // stride
  int64_t ph = 0, pw = 0;        // zero padding
  int64_t cs = 0;                // channel stride of the input: 0 = H * W (NCHW); N * H * W for CNHW
  int64_t chan_stride() const { return cs ? cs : H * W; }
  int64_t Ho() const { return (H + 2 * ph - kh) / sh + 1; }
  int64_t Wo() const { return (W + 2 * pw - kw) / sw + 1; }
  int64_t K() const { return C * kh * kw; }
};

// col (nrows or K rows, row stride ldcol >= batch * Ho * Wo) from `batch`
// images; image n's group input starts at x + n * image_stride, channel c of
// it at + c * g.chan_stride() (H, W). With `act` (active), every input value
// read is v -> act(v + act->bias[c]) first (a producer's deferred epilogue;
// act->bias indexed by the group's channel, so offset it to the group), and
// padding stays 0.
void im2col(Context& ctx, const float* x, const ConvGeom& g, int64_t batch, int64_t image_stride, float* col,
            int64_t ldcol, const int32_t* rows = nullptr, int64_t nrows = 0, const PendingAct* act = nullptr);

// The adjoint: adds every element of col (laid out as im2col writes it) into
// the input position it was read from. dx is accumulated into, not
// overwritten (zero it first for a plain gradient). Without rows the CUDA
// kernel gathers per input pixel (deterministic, no atomics); with rows it
// scatters with atomicAdd (summation order may vary run to run).
void col2im(Context& ctx, const float* col, const ConvGeom& g, int64_t batch, int64_t image_stride, int64_t ldcol,
            float* dx, const int32_t* rows = nullptr, int64_t nrows = 0);

// The transposed column matrix in a tensor-core input precision, as
// cublaslt_gemm feeds it to cuBLASLt (GemmArgs::lowp_b): out (rows_out, ld)
// of bf16 or fp16 (p), row q = column q of the matrix im2col writes (q <
// batch * Ho * Wo), element r = its row r (r < nrows, or K without `rows`),
// rounded to nearest even as lowp_convert_device rounds; zeros in columns
// [nrows or K, ld) and rows [batch * Ho * Wo, rows_out). ld must be even.
// CUDA only: it replaces im2col + the fp32 -> bf16 conversion of its output.
void im2row_lowp(Context& ctx, const float* x, const ConvGeom& g, int64_t batch, int64_t image_stride, Precision p,
                 void* out, int64_t ld, int64_t rows_out, const int32_t* rows = nullptr, int64_t nrows = 0,
                 const PendingAct* act = nullptr);

namespace detail {
void im2col_cuda(Context& ctx, const float* x, const ConvGeom& g, int64_t batch, int64_t image_stride, float* col,
                 int64_t ldcol, const int32_t* rows, int64_t nrows, const PendingAct* act);
void im2row_lowp_cuda(Context& ctx, const float* x, const ConvGeom& g, int64_t batch, int64_t image_stride,
                      Precision p, void* out, int64_t ld, int64_t rows_out, const int32_t* rows, int64_t nrows,
                      const PendingAct* act);
void col2im_cuda(Context& ctx, const float* col, const ConvGeom& g, int64_t batch, int64_t image_stride,
                 int64_t ldcol, float* dx, const int32_t* rows, int64_t nrows);
}  // namespace detail

}  // namespace deftnn
