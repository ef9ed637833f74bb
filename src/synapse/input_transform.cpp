#include "synapse/input_transform.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "synapse/transform_kernels.h"

namespace deftnn::sve {

namespace {
void check_common(int64_t n, int64_t ldx, int64_t count, const void* idx, const char* what) {
  DEFTNN_CHECK(n >= 0 && ldx >= n && count >= 0, "SVE {}: bad sizes n={} ldx={} count={}", what, n, ldx, count);
  DEFTNN_CHECK(idx != nullptr || count == 0, "SVE {}: no index array", what);
}
}  // namespace

std::vector<int32_t> flatten_pairs(const std::vector<std::pair<int32_t, int32_t>>& pairs) {
  std::vector<int32_t> v;
  v.reserve(pairs.size() * 2);
  for (auto [a, b] : pairs) v.push_back(a), v.push_back(b);
  return v;
}

void swap_rows(Context& ctx, float* x, int64_t n, int64_t ldx, const int32_t* pairs, int64_t num_pairs) {
  check_common(n, ldx, num_pairs, pairs, "swap_rows");
  if (num_pairs == 0 || n == 0) return;
  if (ctx.is_cuda()) return cuda::swap_rows(ctx, x, n, ldx, pairs, num_pairs);
  for (int64_t p = 0; p < num_pairs; ++p) {
    float* a = x + int64_t(pairs[2 * p]) * ldx;
    float* b = x + int64_t(pairs[2 * p + 1]) * ldx;
    std::swap_ranges(a, a + n, b);
  }
}

void copy_rows(Context& ctx, const float* x, int64_t n, int64_t ldx, const int32_t* kept, int64_t kept_k, float* y,
               int64_t ldy) {
  check_common(n, ldx, kept_k, kept, "copy_rows");
  DEFTNN_CHECK(ldy >= n, "SVE copy_rows: ldy={} < n={}", ldy, n);
  if (kept_k == 0 || n == 0) return;
  if (ctx.is_cuda()) return cuda::copy_rows(ctx, x, n, ldx, kept, kept_k, y, ldy);
  for (int64_t j = 0; j < kept_k; ++j)
    std::memcpy(y + j * ldy, x + int64_t(kept[j]) * ldx, size_t(n) * sizeof(float));
}

void swap_cols(Context& ctx, float* x, int64_t rows, int64_t ldx, const int32_t* pairs, int64_t num_pairs) {
  DEFTNN_CHECK(rows >= 0 && ldx >= 0 && num_pairs >= 0 && (pairs || !num_pairs), "SVE swap_cols: bad arguments");
  if (num_pairs == 0 || rows == 0) return;
  if (ctx.is_cuda()) return cuda::swap_cols(ctx, x, rows, ldx, pairs, num_pairs);
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * ldx;
    for (int64_t p = 0; p < num_pairs; ++p) std::swap(row[pairs[2 * p]], row[pairs[2 * p + 1]]);
  }
}

void copy_cols(Context& ctx, const float* x, int64_t rows, int64_t ldx, const int32_t* kept, int64_t kept_k,
               float* y, int64_t ldy) {
  DEFTNN_CHECK(rows >= 0 && kept_k >= 0 && ldy >= kept_k && (kept || !kept_k), "SVE copy_cols: bad arguments");
  if (kept_k == 0 || rows == 0) return;
  if (ctx.is_cuda()) return cuda::copy_cols(ctx, x, rows, ldx, kept, kept_k, y, ldy);
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = x + r * ldx;
    float* dst = y + r * ldy;
    for (int64_t j = 0; j < kept_k; ++j) dst[j] = src[kept[j]];
  }
}

}  // namespace deftnn::sve
