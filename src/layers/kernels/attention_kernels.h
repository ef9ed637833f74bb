// Launchers of multi-head scaled dot-product attention (CUDA; plain types).
// q, k, v and out are (n, t, heads * d) row-major on the device: head h of
// token i is the d values at column h * d. mask is (n, t): 1 = token,
// 0 = padding. Per (sequence, head):
//   S = q k^T * scale + (1 - mask[j]) * lowest float   (row i, column j)
//   P = softmax(S) per row,  out = P v
// The products run on cuBLAS (cublasSgemmStridedBatched, one batch over the
// heads or the sequences through strides), the softmax in a warp-per-row
// kernel. The scores live in `scratch`: attention_scratch_bytes() bytes.
#pragma once

#include <cstddef>
#include <cstdint>

struct CUstream_st;
struct cublasContext;

namespace deftnn::kernels {

struct AttentionDims {
  int64_t n = 0, t = 0, heads = 0, d = 0;
  float scale = 1.f;  // 1 / sqrt(d) for BERT
};

// Bytes of scratch a forward (one n x heads x t x t score block) or a
// backward (two of them: the probabilities and their gradient) needs.
size_t attention_scratch_bytes(const AttentionDims& a, bool backward);

void attention_forward(cublasContext* blas, CUstream_st* stream, const AttentionDims& a, const float* q,
                       const float* k, const float* v, const float* mask, float* out, void* scratch);

// dq, dk, dv (each may be null: not wanted) from dout; recomputes P from q,
// k and mask. The mask gets no gradient.
void attention_backward(cublasContext* blas, CUstream_st* stream, const AttentionDims& a, const float* q,
                        const float* k, const float* v, const float* mask, const float* dout, float* dq, float* dk,
                        float* dv, void* scratch);

}  // namespace deftnn::kernels
