// Multi-head attention on cuBLAS and one row kernel. Every head's matrices
// are views of the (n, t, heads * d) tensors: in cuBLAS's column-major terms
// head (s, h) of q is a d x t matrix at q + s t hd + h d with leading
// dimension hd (= heads * d), and its score block a t x t matrix at
// (s heads + h) t t with leading dimension t, whose column i is score row i.
// One strided batch covers all heads of a sequence (stride d, scores t t) or
// one head of all sequences (stride t hd, scores heads t t), whichever has
// more members; the other index is a loop of launches.
// The softmax adds the mask and normalises one score row per warp.
#include <cfloat>

#include "layers/kernels/attention_kernels.h"
#include "layers/kernels/launch.cuh"

namespace deftnn::kernels {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kThreads / kWarp;  // one score row per warp

__device__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Row r of the scores belongs to sequence r / (heads t). In place:
// s_j + (1 - mask_j) lowest, then exp(s_j - max) / sum (Hugging Face BERT's
// additive mask: a padded key gets weight 0 when the row has any token; a
// row of padding only gets uniform weights, as there).
__global__ void masked_softmax_kernel(float* __restrict__ scores, const float* __restrict__ mask, int64_t rows,
                                      int64_t t, int64_t rows_per_seq) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp; r < rows;
       r += int64_t(gridDim.x) * kRowsPerBlock) {
    float* row = scores + r * t;
    const float* m = mask + (r / rows_per_seq) * t;
    float mx = -FLT_MAX;
    for (int64_t j = lane; j < t; j += kWarp) {
      float s = row[j] + (1.f - m[j]) * -FLT_MAX;
      row[j] = s;
      mx = fmaxf(mx, s);
    }
    mx = warp_max(mx);
    float sum = 0.f;
    for (int64_t j = lane; j < t; j += kWarp) {
      float e = expf(row[j] - mx);
      row[j] = e;
      sum += e;
    }
    const float inv = 1.f / warp_sum(sum);
    for (int64_t j = lane; j < t; j += kWarp) row[j] *= inv;
  }
}

// In place on dp: ds_j = p_j (dp_j - sum_k p_k dp_k).
__global__ void softmax_backward_kernel(const float* __restrict__ p, float* __restrict__ dp, int64_t rows,
                                        int64_t t) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp; r < rows;
       r += int64_t(gridDim.x) * kRowsPerBlock) {
    const float* pr = p + r * t;
    float* g = dp + r * t;
    float dot = 0.f;
    for (int64_t j = lane; j < t; j += kWarp) dot += pr[j] * g[j];
    dot = warp_sum(dot);
    for (int64_t j = lane; j < t; j += kWarp) g[j] = pr[j] * (g[j] - dot);
  }
}

unsigned row_blocks(int64_t rows) {
  return unsigned(std::clamp<int64_t>((rows + kRowsPerBlock - 1) / kRowsPerBlock, 1, kMaxBlocks));
}

// A per-head operand: a token matrix (q, k, v, out and their gradients;
// d x t, leading dimension hd) or a score block (t x t, leading dimension t).
struct Operand {
  const float* p;
  bool score;
};

// C = alpha op(A) op(B) for every (sequence, head), beta 0.
void head_gemm(cublasHandle_t blas, const AttentionDims& a, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
               int64_t nn, int64_t k, float alpha, Operand A, Operand B, Operand C) {
  const int64_t hd = a.heads * a.d, tt = a.t * a.t;
  const bool over_heads = a.heads >= a.n;  // the batch runs over the heads of one sequence
  const int64_t batch = over_heads ? a.heads : a.n, loops = over_heads ? a.n : a.heads;
  auto ld = [&](Operand o) { return int(o.score ? a.t : hd); };
  auto stride = [&](Operand o) -> long long {
    if (over_heads) return o.score ? tt : a.d;
    return o.score ? a.heads * tt : a.t * hd;
  };
  auto offset = [&](Operand o, int64_t l) -> int64_t {
    if (over_heads) return o.score ? l * a.heads * tt : l * a.t * hd;  // l: the sequence
    return o.score ? l * tt : l * a.d;                                  // l: the head
  };
  const float beta = 0.f;
  for (int64_t l = 0; l < loops; ++l)
    DEFTNN_CUBLAS_CHECK(cublasSgemmStridedBatched(
        blas, ta, tb, int(m), int(nn), int(k), &alpha, A.p + offset(A, l), ld(A), stride(A), B.p + offset(B, l),
        ld(B), stride(B), &beta, const_cast<float*>(C.p) + offset(C, l), ld(C), stride(C), int(batch)));
}

// P (scores, t x t per head) = softmax(q k^T scale + mask).
void probabilities(cublasHandle_t blas, CUstream_st* stream, const AttentionDims& a, const float* q, const float* k,
                   const float* mask, float* p) {
  // Column-major P^T (j, i) = sum_d k(d, j) q(d, i): op(A) = K^T, B = Q.
  head_gemm(blas, a, CUBLAS_OP_T, CUBLAS_OP_N, a.t, a.t, a.d, a.scale, {k, false}, {q, false}, {p, true});
  const int64_t rows = a.n * a.heads * a.t;
  masked_softmax_kernel<<<row_blocks(rows), kThreads, 0, stream>>>(p, mask, rows, a.t, a.heads * a.t);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void check_dims(const AttentionDims& a) {
  const int64_t int_max = 0x7fffffff;
  DEFTNN_CHECK(a.n > 0 && a.t > 0 && a.heads > 0 && a.d > 0, "attention: empty dimensions n {} t {} heads {} d {}",
               a.n, a.t, a.heads, a.d);
  DEFTNN_CHECK(a.t <= int_max / a.t && a.heads * a.d <= int_max && a.n * a.heads <= int_max,
               "attention: n {} t {} heads {} d {} exceed cuBLAS's int sizes", a.n, a.t, a.heads, a.d);
}

}  // namespace

size_t attention_scratch_bytes(const AttentionDims& a, bool backward) {
  return size_t(a.n * a.heads * a.t * a.t) * sizeof(float) * (backward ? 2 : 1);
}

void attention_forward(cublasContext* blas, CUstream_st* stream, const AttentionDims& a, const float* q,
                       const float* k, const float* v, const float* mask, float* out, void* scratch) {
  check_dims(a);
  float* p = static_cast<float*>(scratch);
  probabilities(blas, stream, a, q, k, mask, p);
  // out(d, i) = sum_j v(d, j) P^T(j, i).
  head_gemm(blas, a, CUBLAS_OP_N, CUBLAS_OP_N, a.d, a.t, a.t, 1.f, {v, false}, {p, true}, {out, false});
}

void attention_backward(cublasContext* blas, CUstream_st* stream, const AttentionDims& a, const float* q,
                        const float* k, const float* v, const float* mask, const float* dout, float* dq, float* dk,
                        float* dv, void* scratch) {
  check_dims(a);
  float* p = static_cast<float*>(scratch);
  float* ds = p + a.n * a.heads * a.t * a.t;
  probabilities(blas, stream, a, q, k, mask, p);
  // dv(d, j) = sum_i dout(d, i) P(i, j): B = P^T stored, transposed back.
  if (dv) head_gemm(blas, a, CUBLAS_OP_N, CUBLAS_OP_T, a.d, a.t, a.t, 1.f, {dout, false}, {p, true}, {dv, false});
  if (!dq && !dk) return;
  // dP^T(j, i) = sum_d v(d, j) dout(d, i).
  head_gemm(blas, a, CUBLAS_OP_T, CUBLAS_OP_N, a.t, a.t, a.d, 1.f, {v, false}, {dout, false}, {ds, true});
  const int64_t rows = a.n * a.heads * a.t;
  softmax_backward_kernel<<<row_blocks(rows), kThreads, 0, stream>>>(p, ds, rows, a.t);
  DEFTNN_CUDA_CHECK_LAUNCH();
  // dq(d, i) = scale sum_j k(d, j) dS^T(j, i); dk(d, j) = scale sum_i q(d, i) dS(i, j).
  if (dq) head_gemm(blas, a, CUBLAS_OP_N, CUBLAS_OP_N, a.d, a.t, a.t, a.scale, {k, false}, {ds, true}, {dq, false});
  if (dk) head_gemm(blas, a, CUBLAS_OP_N, CUBLAS_OP_T, a.d, a.t, a.t, a.scale, {q, false}, {ds, true}, {dk, false});
}

}  // namespace deftnn::kernels
