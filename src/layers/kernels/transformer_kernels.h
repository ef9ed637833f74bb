// Launchers of the transformer layers' kernels (CUDA; plain types): layer
// norm, GELU, L2 normalisation, masked mean pooling and embeddings. All
// pointers on the device; rows are row-major (rows, h).
#pragma once

#include <cstddef>
#include <cstdint>

struct CUstream_st;

namespace deftnn::kernels {

// y = (x - mean) / sqrt(var + eps) * gamma + beta per row of h; two passes
// over the row (mean, then the sum of squared deviations), fp32.
void layernorm_forward(CUstream_st* stream, const float* x, const float* gamma, const float* beta, float* y,
                       int64_t rows, int64_t h, float eps);
// dx (when not null) per row; dgamma = sum_rows dy xhat, dbeta = sum_rows dy,
// one thread per column summing the rows in order (no atomics). `scratch`:
// layernorm_scratch_bytes(rows) bytes (each row's mean and 1 / sigma).
void layernorm_backward(CUstream_st* stream, const float* x, const float* gamma, const float* dy, float* dx,
                        float* dgamma, float* dbeta, int64_t rows, int64_t h, float eps, void* scratch);
size_t layernorm_scratch_bytes(int64_t rows);

// y = x Phi(x) = 0.5 x (1 + erf(x / sqrt(2))).
void gelu_forward(CUstream_st* stream, const float* x, float* y, int64_t n);
void gelu_backward(CUstream_st* stream, const float* x, const float* dy, float* dx, int64_t n);

// y = x / max(||x||, eps) per row of h.
void l2norm_forward(CUstream_st* stream, const float* x, float* y, int64_t rows, int64_t h, float eps);
void l2norm_backward(CUstream_st* stream, const float* x, const float* y, const float* dy, float* dx, int64_t rows,
                     int64_t h, float eps);

// y (n, h) = sum_t mask[n, t] x[n, t, :] / max(sum_t mask[n, t], 1e-9).
void meanpool_forward(CUstream_st* stream, const float* x, const float* mask, float* y, int64_t n, int64_t t,
                      int64_t h);
// dx[n, t, :] = mask[n, t] dy[n, :] / max(sum_t mask[n, t], 1e-9).
void meanpool_backward(CUstream_st* stream, const float* mask, const float* dy, float* dx, int64_t n, int64_t t,
                       int64_t h);

// Token indices of an embedding: exactly one of f32 and i32 is not null; an
// fp32 index must be a whole number.
struct EmbeddingIds {
  const float* f32 = nullptr;
  const int32_t* i32 = nullptr;
};

// How many of the `count` indices are not whole numbers in [0, limit)
// (synchronises the stream). `scratch`: embedding_scratch_bytes() bytes.
// Inside a CUDA graph capture it cannot read back and returns 0 unchecked:
// embedding_forward then writes NaN rows for bad ids.
int64_t embedding_bad_ids(CUstream_st* stream, EmbeddingIds ids, int64_t count, int64_t limit, void* scratch);
size_t embedding_scratch_bytes();

// y (n, t, h) = word[ids] + position[t] (when not null) + type[type_ids]
// (type_ids.f32/i32 both null: type row 0; type null: none). An id outside
// [0, vocab) or a type id outside [0, types) makes its row NaN.
void embedding_forward(CUstream_st* stream, EmbeddingIds ids, EmbeddingIds type_ids, const float* word,
                       const float* position, const float* type, float* y, int64_t n, int64_t t, int64_t h,
                       int64_t vocab, int64_t types);
// Overwrites the gradients of the tables: dword (vocab, h), dposition
// (positions, h) and dtype (types, h) (each may be null). Each column is
// summed by one thread over the tokens in order: deterministic, no atomics,
// the same additions in the same order as the CPU.
void embedding_backward(CUstream_st* stream, EmbeddingIds ids, EmbeddingIds type_ids, const float* dy, float* dword,
                        int64_t vocab, float* dposition, int64_t positions, float* dtype, int64_t types, int64_t n,
                        int64_t t, int64_t h);

}  // namespace deftnn::kernels
