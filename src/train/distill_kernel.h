// The distillation loss on the GPU (distill.cu), kept apart from distill.h so
// that the .cu file sees plain types only.
#pragma once

#include <cstddef>
#include <cstdint>

struct CUstream_st;

namespace deftnn::train {

// Flags per row in row_flags: bit 0 = the student's argmax equals the label,
// bit 1 = the label is outside [0, c).
constexpr int32_t kDistillCorrect = 1;
constexpr int32_t kDistillBadLabel = 2;

// One thread per row of z, t (n, c) F32 and y (n) I32, all on the device:
// computes each row's cross-entropy, its KL(softmax(t/T) || softmax(z/T)) and
// its flags, and (dz not null) writes dL/dz as in distill.h. The arithmetic
// is distillation_loss's CPU path, in the same order. The per-row results go
// through `scratch` (distill_scratch_bytes(n) bytes of device memory) to the
// host arrays row_hard, row_soft, row_flags (n each); synchronises the stream.
void distill_rows_cuda(CUstream_st* stream, const float* z, const int32_t* y, const float* t, int64_t n, int64_t c,
                       float temperature, float weight, float* dz, void* scratch, float* row_hard, float* row_soft,
                       int32_t* row_flags);
size_t distill_scratch_bytes(int64_t n);

}  // namespace deftnn::train
