// Row-wise softmax and softmax cross-entropy launchers (CUDA; plain types).
// Rows are (N, C) row-major on the device; one block per row.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace deftnn::kernels {

// What softmax_cross_entropy reduces on the device and copies back (one small copy).
struct XentTotals {
  double loss_sum;    // sum over rows of -log softmax(x)[label]
  double correct;     // rows whose first argmax equals the label
  double bad_labels;  // rows whose label is outside [0, C)
};

// probs = softmax(x) per row.
void softmax_rows(CUstream_st* stream, const float* x, float* probs, int64_t n, int64_t c);
// dx = y * (dy - sum(dy * y)) per row (the softmax Jacobian applied to dy).
void softmax_backward_rows(CUstream_st* stream, const float* y, const float* dy, float* dx, int64_t n, int64_t c);
// Per-row loss, argmax test and (when dlogits is not null) (softmax - onehot) / n,
// then the totals reduced on the device and copied back (synchronises the
// stream). `scratch`: softmax_xent_scratch_bytes(n) bytes of device memory.
XentTotals softmax_xent(CUstream_st* stream, const float* logits, const int32_t* labels, int64_t n, int64_t c,
                        float* dlogits, void* scratch);
size_t softmax_xent_scratch_bytes(int64_t n);

}  // namespace deftnn::kernels
