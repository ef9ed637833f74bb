#include "layers/loss.h"

#include <cmath>

#include "layers/kernels/softmax_kernels.h"

namespace deftnn {

namespace {

void check_rows(const Context& ctx, const Tensor& t, const char* what) {
  DEFTNN_CHECK(t.defined() && t.ndim() == 2, "{}: needs an (N, C) tensor, got {}", what,
               t.defined() ? shape_str(t.shape()) : "undefined");
  DEFTNN_CHECK(t.device() == ctx.device(), "{}: tensor on {}, context on {}", what, device_name(t.device()),
               device_name(ctx.device()));
  DEFTNN_CHECK(t.dtype() == DType::F32 || (t.dtype() == DType::F64 && !ctx.is_cuda()),
               "{}: element type {} (F32, or F64 on the CPU)", what, dtype_name(t.dtype()));
}

template <class F>
void dispatch(DType t, F&& f) {
  if (t == DType::F64) return f(double{});
  return f(float{});
}

}  // namespace

void softmax(Context& ctx, const Tensor& logits, Tensor& probs) {
  check_rows(ctx, logits, "softmax logits");
  check_rows(ctx, probs, "softmax probabilities");
  DEFTNN_CHECK(probs.shape() == logits.shape() && probs.dtype() == logits.dtype(), "softmax: probabilities {} {}, logits {} {}",
               dtype_name(probs.dtype()), shape_str(probs.shape()), dtype_name(logits.dtype()),
               shape_str(logits.shape()));
  int64_t n = logits.dim(0), c = logits.dim(1);
  if (ctx.is_cuda()) {
    kernels::softmax_rows(ctx.stream(), logits.data<float>(), probs.data<float>(), n, c);
    return;
  }
  dispatch(logits.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* x = logits.data<T>();
    T* p = probs.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      T mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < c; ++j) mx = std::max(mx, x[i * c + j]);
      for (int64_t j = 0; j < c; ++j) sum += std::exp(x[i * c + j] - mx);
      for (int64_t j = 0; j < c; ++j) p[i * c + j] = std::exp(x[i * c + j] - mx) / sum;
    }
  });
}

float softmax_cross_entropy(Context& ctx, const Tensor& logits, const Tensor& labels, Tensor* dlogits,
                            int64_t* correct) {
  check_rows(ctx, logits, "softmax cross-entropy logits");
  int64_t n = logits.dim(0), c = logits.dim(1);
  DEFTNN_CHECK(labels.defined() && labels.dtype() == DType::I32 && labels.shape() == Shape{n} &&
                   labels.device() == ctx.device(),
               "softmax cross-entropy: labels must be I32 ({}) on {}, got {} {} on {}", n, device_name(ctx.device()),
               labels.defined() ? dtype_name(labels.dtype()) : "undefined", shape_str(labels.shape()),
               device_name(labels.device()));
  DEFTNN_CHECK(n > 0 && c > 0, "softmax cross-entropy: empty logits {}", shape_str(logits.shape()));
  if (dlogits) {
    check_rows(ctx, *dlogits, "softmax cross-entropy gradient");
    DEFTNN_CHECK(dlogits->shape() == logits.shape() && dlogits->dtype() == logits.dtype(),
                 "softmax cross-entropy: gradient {} {}, logits {} {}", dtype_name(dlogits->dtype()),
                 shape_str(dlogits->shape()), dtype_name(logits.dtype()), shape_str(logits.shape()));
  }
  if (ctx.is_cuda()) {
    void* scratch = ctx.workspace(kernels::softmax_xent_scratch_bytes(n));
    kernels::XentTotals t = kernels::softmax_xent(ctx.stream(), logits.data<float>(), labels.data<int32_t>(), n, c,
                                                  dlogits ? dlogits->data<float>() : nullptr, scratch);
    DEFTNN_CHECK(t.bad_labels == 0, "softmax cross-entropy: {} labels outside [0, {})", int64_t(t.bad_labels), c);
    if (correct) *correct += int64_t(t.correct);
    return float(t.loss_sum / double(n));
  }
  const int32_t* lab = labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    DEFTNN_CHECK(lab[i] >= 0 && lab[i] < c, "softmax cross-entropy: label {} of row {} outside [0, {})", lab[i], i, c);
  double total = 0;
  int64_t right = 0;
  dispatch(logits.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* x = logits.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      const T* row = x + i * c;
      int64_t arg = 0;
      for (int64_t j = 1; j < c; ++j)
        if (row[j] > row[arg]) arg = j;
      T mx = row[arg], sum = 0;
      for (int64_t j = 0; j < c; ++j) sum += std::exp(row[j] - mx);
      total += std::log(double(sum)) - double(row[lab[i]] - mx);
      right += arg == lab[i];
      if (!dlogits) continue;
      T* g = dlogits->data<T>() + i * c;
      for (int64_t j = 0; j < c; ++j) g[j] = (std::exp(row[j] - mx) / sum - T(j == lab[i])) / T(n);
    }
  });
  if (correct) *correct += right;
  return float(total / double(n));
}

}  // namespace deftnn
