// Offline packing of a linear layer's weight W (N_out, K) into a mixed-input
// format (gemm/mixed/mixed_format.h) in the layout the kernel reads
// (gemm/mixed/mixed_layout.h), its decode back to fp32, and the fp64 CPU
// reference of Y (M, N) = X (M, K) dec(W)^T with bf16 activations.
#pragma once

#include <cstdint>
#include <vector>

#include "gemm/mixed/mixed_format.h"

namespace deftnn::mixed {

struct PackedWeights {
  WeightFormat format;
  int64_t n = 0, k = 0;    // logical W (n, k)
  int64_t np = 0, kp = 0;  // padded: np multiple of kPadN, kp multiple of kPadK
  std::vector<uint8_t> bytes;  // np * kp * bits / 8, the kernel's layout
  // Per channel: np scales. Per group (4-bit): (kp / group) * np, index g * np + n.
  std::vector<float> scales;
  int64_t groups() const { return format.group() ? kp / format.group() : 1; }
};

// Packs W (n, k) row-major (row stride ldw, 0 = k). Scales are max|w| / max_value()
// over the row (8-bit) or the row's group of 128 k (4-bit); 1 where that max
// is 0. fixed_scale > 0 uses that scale everywhere instead (exact tests).
// Throws deftnn::Error on a non-finite weight or bad sizes.
PackedWeights pack_weights(const float* w, int64_t n, int64_t k, const WeightFormat& f, int64_t ldw = 0,
                           float fixed_scale = 0);

uint32_t packed_code(const PackedWeights& p, int64_t n, int64_t k);  // the stored code of (n, k)
float packed_scale(const PackedWeights& p, int64_t n, int64_t k);    // its scale
// value(code) * scale in fp64 (exact) and rounded once to fp32.
double decoded_weight(const PackedWeights& p, int64_t n, int64_t k);
std::vector<float> decode_weights(const PackedWeights& p);  // (n, k) row-major

// fp32 -> bf16 bits, round to nearest even (the activations the kernel takes).
std::vector<uint16_t> to_bf16(const std::vector<float>& x);

// y (m, n) = sum_k bf16(x)[m][k] * decoded_weight(n, k) in fp64; abs_sum (if
// given) = sum_k |x w| per output, the scale of the rounding error bound.
// x: bf16 bits, row stride ldx (0 = k).
void reference_gemm(const PackedWeights& p, const uint16_t* x, int64_t m, int64_t ldx, std::vector<double>& y,
                    std::vector<double>* abs_sum = nullptr);

}  // namespace deftnn::mixed
