#include "layers/im2col.h"

#include "core/error.h"

namespace deftnn {

namespace {

void check_geom(const ConvGeom& g, int64_t batch, int64_t ldcol, const int32_t* rows, int64_t nrows) {
  DEFTNN_CHECK(g.C > 0 && g.H > 0 && g.W > 0 && g.kh > 0 && g.kw > 0 && g.sh > 0 && g.sw > 0 && g.ph >= 0 &&
                   g.pw >= 0,
               "im2col: bad geometry C={} H={} W={} kernel {}x{} stride {}x{} pad {}x{}", g.C, g.H, g.W, g.kh, g.kw,
               g.sh, g.sw, g.ph, g.pw);
  DEFTNN_CHECK(g.H + 2 * g.ph >= g.kh && g.W + 2 * g.pw >= g.kw,
               "im2col: kernel {}x{} larger than the padded input {}x{}", g.kh, g.kw, g.H + 2 * g.ph, g.W + 2 * g.pw);
  DEFTNN_CHECK(ldcol >= batch * g.Ho() * g.Wo(), "im2col: ldcol {} < {} columns", ldcol, batch * g.Ho() * g.Wo());
  DEFTNN_CHECK(!rows || (nrows >= 0 && nrows <= g.K()), "im2col: {} rows of {}", nrows, g.K());
}

}  // namespace

void im2col(Context& ctx, const float* x, const ConvGeom& g, int64_t batch, int64_t image_stride, float* col,
            int64_t ldcol, const int32_t* rows, int64_t nrows, const PendingAct* act) {
  check_geom(g, batch, ldcol, rows, nrows);
  if (act && !act->active()) act = nullptr;
  if (ctx.is_cuda()) return detail::im2col_cuda(ctx, x, g, batch, image_stride, col, ldcol, rows, nrows, act);
  const int64_t Ho = g.Ho(), Wo = g.Wo(), HW = Ho * Wo, kk = g.kh * g.kw;
  const int64_t R = rows ? nrows : g.K();
  for (int64_t r = 0; r < R; ++r) {
    const int64_t k = rows ? rows[r] : r;
    DEFTNN_CHECK(k >= 0 && k < g.K(), "im2col: row index {} outside [0, {})", k, g.K());
    const int64_t c = k / kk, i = (k / g.kw) % g.kh, j = k % g.kw;
    const float b = act && act->bias ? act->bias[c] : 0.f;
    for (int64_t n = 0; n < batch; ++n) {
      const float* xc = x + n * image_stride + c * g.chan_stride();
      float* out = col + r * ldcol + n * HW;
      for (int64_t ho = 0; ho < Ho; ++ho) {
        const int64_t h = ho * g.sh - g.ph + i;
        float* o = out + ho * Wo;
        if (h < 0 || h >= g.H) {
          for (int64_t wo = 0; wo < Wo; ++wo) o[wo] = 0.f;
          continue;
        }
        const float* xr = xc + h * g.W;
        for (int64_t wo = 0; wo < Wo; ++wo) {
          const int64_t w = wo * g.sw - g.pw + j;
          float v = 0.f;
          if (w >= 0 && w < g.W) {
            v = xr[w];
            if (act) {
              v += b;
              if (act->relu && !(v > 0.f)) v *= act->slope;
            }
          }
          o[wo] = v;
        }
      }
    }
  }
}

void im2row_lowp(Context& ctx, const float* x, const ConvGeom& g, int64_t batch, int64_t image_stride, Precision p,
                 void* out, int64_t ld, int64_t rows_out, const int32_t* rows, int64_t nrows, const PendingAct* act) {
  const int64_t ncols = batch * g.Ho() * g.Wo();
  check_geom(g, batch, ncols, rows, nrows);
  DEFTNN_CHECK(p == Precision::BF16 || p == Precision::FP16, "im2row: precision {} is not bf16 or fp16",
               precision_name(p));
  DEFTNN_CHECK(ld % 2 == 0 && ld >= (rows ? nrows : g.K()) && rows_out >= ncols,
               "im2row: output ({}, ld {}) cannot hold ({}, {}) with an even ld", rows_out, ld, ncols,
               rows ? nrows : g.K());
  DEFTNN_CHECK(ctx.is_cuda(), "im2row: CUDA only (the CPU path rounds in the GEMM backend)");
  if (act && !act->active()) act = nullptr;
  detail::im2row_lowp_cuda(ctx, x, g, batch, image_stride, p, out, ld, rows_out, rows, nrows, act);
}

void col2im(Context& ctx, const float* col, const ConvGeom& g, int64_t batch, int64_t image_stride, int64_t ldcol,
            float* dx, const int32_t* rows, int64_t nrows) {
  check_geom(g, batch, ldcol, rows, nrows);
  DEFTNN_CHECK(g.chan_stride() == g.H * g.W, "col2im: NCHW input only (channel stride {}, H * W = {})", g.chan_stride(),
               g.H * g.W);
  if (ctx.is_cuda()) return detail::col2im_cuda(ctx, col, g, batch, image_stride, ldcol, dx, rows, nrows);
  const int64_t Ho = g.Ho(), Wo = g.Wo(), HW = Ho * Wo, kk = g.kh * g.kw;
  const int64_t R = rows ? nrows : g.K();
  for (int64_t r = 0; r < R; ++r) {
    const int64_t k = rows ? rows[r] : r;
    DEFTNN_CHECK(k >= 0 && k < g.K(), "col2im: row index {} outside [0, {})", k, g.K());
    const int64_t c = k / kk, i = (k / g.kw) % g.kh, j = k % g.kw;
    for (int64_t n = 0; n < batch; ++n) {
      float* dxc = dx + n * image_stride + c * g.chan_stride();
      const float* in = col + r * ldcol + n * HW;
      for (int64_t ho = 0; ho < Ho; ++ho) {
        const int64_t h = ho * g.sh - g.ph + i;
        if (h < 0 || h >= g.H) continue;
        float* dr = dxc + h * g.W;
        const float* v = in + ho * Wo;
        for (int64_t wo = 0; wo < Wo; ++wo) {
          const int64_t w = wo * g.sw - g.pw + j;
          if (w >= 0 && w < g.W) dr[w] += v[wo];
        }
      }
    }
  }
}

}  // namespace deftnn
