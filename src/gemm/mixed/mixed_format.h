// Weight formats of the mixed-input GEMM (narrow weights in global memory,
// bf16 activations, bf16 tensor-core MMA, fp32 accumulation; docs/fission.md,
// "Tensor-core mixed-input fission"). Each format stores one code per weight
// plus fp32 scales: per output channel (8-bit formats) or per group of
// kMixedGroup consecutive k (4-bit formats). A weight decodes as
// value(code) * scale.
//
//   int8      symmetric integer q in [-127, 127], stored as q + 128; per-channel scale max|w| / 127
//   fp8e4m3   OCP e4m3fn code (formats/codec.h); per-channel scale max|w| / 448
//   deft8eE   Deft-8 with E exponent bits (formats/codec.h); per-channel scale max|w| / max(Deft-8 E)
//   int4      symmetric integer q in [-7, 7], stored as q + 8; group scale max|w| / 7
//   fp4e2m1   Deft-4 with 2 exponent bits = OCP e2m1 (sign, 2 exponent bits, 1 mantissa bit, bias 1,
//             subnormal 0.5, no Inf/NaN: +-{0, 0.5, 1, 1.5, 2, 3, 4, 6}); group scale max|w| / 6
//
// Every value(code) of every format is exactly representable in bf16, so the
// kernel's unpack is exact and only the summation order differs from the
// fp64 reference.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/codec.h"

namespace deftnn::mixed {

enum class WeightKind : uint8_t { Int8, FP8E4M3, Deft8, Int4, FP4E2M1 };

// Consecutive k sharing one scale in the 4-bit formats.
inline constexpr int kMixedGroup = 128;

struct WeightFormat {
  WeightKind kind = WeightKind::Int8;
  int exp_bits = 0;  // Deft8 only: 1..7

  // "int8", "fp8e4m3", "deft8e1".."deft8e7", "int4", "fp4e2m1".
  std::string name() const;
  // Parses name(); throws deftnn::Error listing the known names.
  static WeightFormat parse(const std::string& name);
  int bits() const { return kind == WeightKind::Int4 || kind == WeightKind::FP4E2M1 ? 4 : 8; }
  // k per scale: kMixedGroup for the 4-bit formats, 0 = one scale per output channel.
  int group() const { return bits() == 4 ? kMixedGroup : 0; }
  // The largest |value(code)|: the scale maps max|w| onto it.
  double max_value() const;
  bool operator==(const WeightFormat&) const = default;
};

// Every format, Deft-8 with E = 1..7.
std::vector<WeightFormat> all_weight_formats();

// ------------------------------------------------- element codecs (host)
// value(code) exactly (every value is a small binary fraction).
double code_value(const WeightFormat& f, uint32_t code);
// The code of x / scale, rounded to nearest (ties to even), saturating at
// max_value(). x must be finite.
uint32_t encode_scaled(const WeightFormat& f, double x_over_scale);
// The stored code of value 0 (padding).
uint32_t zero_code(const WeightFormat& f);

// e2m1 (fp4e2m1) element codec, also used by the tests' brute-force checks.
inline uint8_t e2m1_encode(float x) {
  uint32_t u = codec::f2u(x), s = (u >> 28) & 0x8u;
  return uint8_t(s | codec::minifloat_mag(std::fabs(x), 2, 1, 1, 0x7u, 0, Rounding::Nearest));
}
inline float e2m1_decode(uint8_t c) {
  float v = codec::minifloat_value(c & 0x7u, 1, 1);
  return (c & 0x8u) ? -v : v;
}

}  // namespace deftnn::mixed
