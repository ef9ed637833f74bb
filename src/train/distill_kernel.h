// The distillation loss on the GPU (distill.cu), kept apart from distill.h so
// that the .cu file sees plain types only.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace deftnn::train {

// Flags per row in row_flags: bit 0 = the student's argmax equals the label,
// bit 1 = the label is outside [0, c).
constexpr int32_t kDistillCorrect = 1;
constexpr int32_t kDistillBadLabel = 2;

// One thread per row of z, t (n, c) F32 and y (n) I32, all on the device:
// writes row_hard[i] = CE of row i, row_soft[i] = KL(softmax(t/T) || softmax(z/T)),
// row_flags[i], and (dz not null) dL/dz as in distill.h. The arithmetic is
// distillation_loss's CPU path, in the same order. Does not synchronise.
void distill_rows_cuda(CUstream_st* stream, const float* z, const int32_t* y, const float* t, int64_t n, int64_t c,
                       float temperature, float weight, float* dz, float* row_hard, float* row_soft,
                       int32_t* row_flags);

}  // namespace deftnn::train
