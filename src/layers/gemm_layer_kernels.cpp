#include "layers/gemm_layer_kernels.h"

#include <algorithm>
#include <utility>

namespace deftnn {

void bias_permute(Context& ctx, const float* out, const float* bias, int64_t nb, int64_t C, int64_t HW, float* y,
                  bool relu, float slope) {
  if (ctx.is_cuda()) return detail::bias_permute_cuda(ctx, out, bias, nb, C, HW, y, relu, slope);
  for (int64_t n = 0; n < nb; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float* o = out + c * nb * HW + n * HW;
      float* yr = y + (n * C + c) * HW;
      const float b = bias ? bias[c] : 0.f;
      if (relu)
        for (int64_t p = 0; p < HW; ++p) {
          const float v = o[p] + b;
          yr[p] = v > 0.f ? v : slope * v;
        }
      else
        for (int64_t p = 0; p < HW; ++p) yr[p] = o[p] + b;
    }
}

void unpermute(Context& ctx, const float* dy, int64_t nb, int64_t C, int64_t HW, float* out) {
  if (ctx.is_cuda()) return detail::unpermute_cuda(ctx, dy, nb, C, HW, out);
  for (int64_t n = 0; n < nb; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float* d = dy + (n * C + c) * HW;
      float* o = out + c * nb * HW + n * HW;
      for (int64_t p = 0; p < HW; ++p) o[p] = d[p];
    }
}

void scatter_cols(Context& ctx, const float* src, int64_t nrows, int64_t nidx, const int32_t* idx, float* dst,
                  int64_t ld_dst) {
  if (ctx.is_cuda()) return detail::scatter_cols_cuda(ctx, src, nrows, nidx, idx, dst, ld_dst);
  for (int64_t n = 0; n < nrows; ++n)
    for (int64_t t = 0; t < nidx; ++t) dst[n * ld_dst + idx[t]] = src[n * nidx + t];
}

void copy_f32(Context& ctx, const float* src, int64_t n, float* dst) {
  if (ctx.is_cuda()) return detail::copy_f32_cuda(ctx, src, n, dst);
  std::copy(src, src + n, dst);
}

void add_row_bias(Context& ctx, float* y, int64_t nrows, int64_t ncols, const float* bias, bool relu, float slope) {
  if (ctx.is_cuda()) return detail::add_row_bias_cuda(ctx, y, nrows, ncols, bias, relu, slope);
  for (int64_t n = 0; n < nrows; ++n)
    for (int64_t m = 0; m < ncols; ++m) {
      const float v = y[n * ncols + m] + (bias ? bias[m] : 0.f);
      y[n * ncols + m] = relu && !(v > 0.f) ? slope * v : v;
    }
}

void add_channel_bias(Context& ctx, float* y, int64_t nrows, int64_t ncols, const float* bias, bool relu,
                      float slope) {
  if (ctx.is_cuda()) return detail::add_channel_bias_cuda(ctx, y, nrows, ncols, bias, relu, slope);
  for (int64_t c = 0; c < nrows; ++c) {
    const float b = bias ? bias[c] : 0.f;
    for (int64_t j = 0; j < ncols; ++j) {
      const float v = y[c * ncols + j] + b;
      y[c * ncols + j] = relu && !(v > 0.f) ? slope * v : v;
    }
  }
}

void column_sums(Context& ctx, const float* dy, int64_t nrows, int64_t ncols, float* db) {
  if (ctx.is_cuda()) return detail::column_sums_cuda(ctx, dy, nrows, ncols, db);
  for (int64_t m = 0; m < ncols; ++m) {
    double s = 0;
    for (int64_t n = 0; n < nrows; ++n) s += dy[n * ncols + m];
    db[m] = float(s);
  }
}

void channel_sums(Context& ctx, const float* dy, int64_t nb, int64_t C, int64_t HW, float* db) {
  if (ctx.is_cuda()) return detail::channel_sums_cuda(ctx, dy, nb, C, HW, db);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < nb; ++n)
      for (int64_t p = 0; p < HW; ++p) s += dy[(n * C + c) * HW + p];
    db[c] = float(s);
  }
}

}  // namespace deftnn
