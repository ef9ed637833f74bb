// Bit-exact encoders and decoders for every fission format, usable on the
// host and in CUDA kernels (the same code runs on both, so the kernels and the
// tests agree bit for bit). Layouts and rules (docs/fission.md has the long form):
//
//   fp32     32 bits, IEEE binary32.
//   half     IEEE binary16 (1-5-10, bias 15) with subnormals, Inf and NaN.
//            Nearest: IEEE round-to-nearest-even; a finite value past the largest
//            half rounds to Inf. Truncate: toward zero; finite values saturate at
//            +-65504, +-Inf stays Inf. NaN -> quiet NaN 0x7e00 (sign kept).
//   deft16   the 16 high bits of the fp32 pattern (1-8-7, bf16's layout).
//            Decode: bits << 16. Nearest: RNE on the pattern (overflow -> Inf,
//            like IEEE). Truncate: drop the low 16 bits. fp32 subnormals keep
//            their top bits (no flush); NaN -> quiet NaN (payload bit 0x0040 set).
//   deft16q  two values per 32-bit word, [hi:16 | lo:16]. lo is a deft16 code;
//            decode lo = word << 16. The hi value decodes as the word itself
//            (word as fp32), so its low 16 mantissa bits are lo's bits: unpack is
//            one instruction per pair instead of two. The hi code is chosen knowing
//            lo: Nearest picks the code whose decoded word is nearest to x in the
//            pattern metric (ties to an even code); Truncate the largest whose
//            decoded magnitude does not exceed |x|. Zero in the hi slot decodes to
//            a denormal of at most 2^-133 (lo's bits), Inf in the hi slot decodes
//            to NaN unless lo is 0 (still non-finite), finite overflow saturates
//            to the largest finite hi code.
//   deft8E   sign, E exponent bits (1..7), M = 7-E mantissa bits, bias 2^(E-1)-1,
//            IEEE-style subnormals when the exponent field is 0, no Inf or NaN:
//            every code is a finite number. Out-of-range values and +-Inf
//            saturate to +-max; NaN encodes as +-max (stays visible). Decode in
//            kernels: place the 7 magnitude bits at fp32 bit 16+E (an fp32
//            pattern whose exponent is the Deft-8 exponent), put the sign at bit
//            31, and multiply by 2^(127-bias) (exact, also for subnormals).
//   fp8e4m3  OCP e4m3fn (bias 7, no Inf, NaN = S.1111.111, max 448); encoding
//            saturates (Hopper's cvt .satfinite): out-of-range and +-Inf -> +-448,
//            NaN -> 0x7f. Kernels decode with cvt.rn.f16x2.e4m3x2.
//   fp8e5m2  OCP e5m2 (bias 15, Inf 0x7c, NaN 0x7d..0x7f, max 57344); encoding
//            saturates the same way (finite and Inf -> +-57344), NaN -> 0x7f.
// Underflow everywhere: values below half the smallest subnormal go to signed
// zero (Nearest), everything below the smallest subnormal to signed zero
// (Truncate).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "formats/format.h"

#if defined(__CUDACC__)
#define DEFTNN_HD __host__ __device__ __forceinline__
#else
#define DEFTNN_HD inline
#endif

namespace deftnn {

enum class Rounding : uint8_t { Nearest, Truncate };

namespace codec {

DEFTNN_HD uint32_t f2u(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
DEFTNN_HD float u2f(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}
DEFTNN_HD bool is_nan_bits(uint32_t u) { return (u & 0x7fffffffu) > 0x7f800000u; }

// ---------------------------------------------------------------- deft16
DEFTNN_HD uint16_t deft16_encode(float x, Rounding r) {
  uint32_t u = f2u(x);
  if (is_nan_bits(u)) return uint16_t((u >> 16) | 0x0040u);
  if (r == Rounding::Truncate) return uint16_t(u >> 16);
  u += 0x7fffu + ((u >> 16) & 1u);  // RNE on the pattern; carries into the exponent
  return uint16_t(u >> 16);
}
DEFTNN_HD float deft16_decode(uint16_t c) { return u2f(uint32_t(c) << 16); }

// --------------------------------------------------------------- deft16q
// The hi code given the lo code already in the word.
DEFTNN_HD uint16_t deft16q_encode_hi(float x, uint16_t lo, Rounding r) {
  uint32_t u = f2u(x), s = u & 0x80000000u, mag = u & 0x7fffffffu;
  if (is_nan_bits(u)) return uint16_t((u >> 16) | 0x0040u);
  if (mag == 0x7f800000u) return uint16_t((s >> 16) | 0x7f80u);  // decodes to NaN unless lo == 0
  uint32_t h;
  if (mag < lo) {
    h = 0;
  } else {
    uint32_t t = mag - lo;  // decoded magnitude = (h << 16) + lo
    h = r == Rounding::Truncate ? (t >> 16) : ((t + 0x7fffu + ((t >> 16) & 1u)) >> 16);
  }
  if (h > 0x7f7fu) h = 0x7f7fu;
  return uint16_t((s >> 16) | h);
}
DEFTNN_HD uint32_t deft16q_encode_pair(float lo_x, float hi_x, Rounding r) {
  uint16_t lo = deft16_encode(lo_x, r);
  return (uint32_t(deft16q_encode_hi(hi_x, lo, r)) << 16) | lo;
}
DEFTNN_HD float deft16q_decode_lo(uint32_t w) { return u2f(w << 16); }
DEFTNN_HD float deft16q_decode_hi(uint32_t w) { return u2f(w); }

// ------------------------------------------------- generic small floats
// A sign-magnitude float with E exponent bits, M mantissa bits, bias B and
// IEEE subnormals. max_mag: the largest finite magnitude code. Returns the
// magnitude code (no sign) of |x| for finite |x|, saturated at max_mag, or
// inf_code when the rounded value passes max_mag and inf_code != 0.
DEFTNN_HD uint32_t minifloat_mag(float ax, int E, int M, int B, uint32_t max_mag, uint32_t inf_code, Rounding r) {
  uint32_t ua = f2u(ax);
  if (ua >= 0x7f800000u) return inf_code ? inf_code : max_mag;  // +Inf (NaN handled by callers)
  int ex = int(ua >> 23) - 127;  // unbiased exponent (fp32 subnormals: -127, they land in the subnormal path)
  int e = ex + B;
  uint32_t code;
  if (e <= 0) {
    // Target subnormal: quantum 2^(1-B-M). q = ax / quantum, exact (power of two) in double.
    double q = double(ax) * std::ldexp(1.0, B - 1 + M);
    double fl = std::floor(q);
    uint32_t m = uint32_t(fl);
    if (r == Rounding::Nearest) {
      double frac = q - fl;
      if (frac > 0.5 || (frac == 0.5 && (m & 1u))) ++m;
    }
    code = m;  // m == 2^M is the smallest normal, which is exactly that code
  } else {
    // Normal: mantissa with M bits from the 23 of fp32.
    uint32_t mant = (ua & 0x7fffffu) | 0x800000u;  // 24 bits, 1.f
    int drop = 23 - M;
    if (e >= (1 << 20)) e = 1 << 20;
    // The code of the value truncated to M bits; adding 1 carries into the exponent.
    uint64_t c = (uint64_t(e) << M) | ((mant >> drop) & ((1u << M) - 1u));
    if (r == Rounding::Nearest) {
      uint32_t rem = mant & ((1u << drop) - 1u), half = 1u << (drop - 1);
      if (rem > half || (rem == half && (c & 1u))) ++c;  // ties to the even code
    }
    code = c > 0xffffffffull ? 0xffffffffu : uint32_t(c);
  }
  if (code > max_mag) return (inf_code && r == Rounding::Nearest) ? inf_code : max_mag;
  return code;
}
DEFTNN_HD float minifloat_value(uint32_t mag, int M, int B) {
  uint32_t e = mag >> M, m = mag & ((1u << M) - 1u);
  if (e == 0) return float(std::ldexp(double(m), 1 - B - M));
  return float(std::ldexp(double((1u << M) | m), int(e) - B - M));
}

// ------------------------------------------------------------------ half
DEFTNN_HD uint16_t half_encode(float x, Rounding r) {
  uint32_t u = f2u(x), s = (u >> 16) & 0x8000u;
  if (is_nan_bits(u)) return uint16_t(s | 0x7e00u);
  if ((u & 0x7fffffffu) == 0x7f800000u) return uint16_t(s | 0x7c00u);
  return uint16_t(s | minifloat_mag(std::fabs(x), 5, 10, 15, 0x7bffu, 0x7c00u, r));
}
DEFTNN_HD float half_decode(uint16_t c) {
  float sg = (c & 0x8000u) ? -1.f : 1.f;
  uint32_t mag = c & 0x7fffu;
  if (mag == 0x7c00u) return sg * INFINITY;
  if (mag > 0x7c00u) return u2f(0x7fc00000u | (uint32_t(c & 0x8000u) << 16));
  return sg * minifloat_value(mag, 10, 15);
}

// ----------------------------------------------------------------- deft8
DEFTNN_HD int deft8_bias(int E) { return (1 << (E - 1)) - 1; }
DEFTNN_HD uint8_t deft8_encode(float x, int E, Rounding r) {
  uint32_t u = f2u(x), s = (u >> 24) & 0x80u;
  if (is_nan_bits(u)) return uint8_t(s | 0x7fu);
  return uint8_t(s | minifloat_mag(std::fabs(x), E, 7 - E, deft8_bias(E), 0x7fu, 0, r));
}
DEFTNN_HD float deft8_decode(uint8_t c, int E) {
  float v = minifloat_value(c & 0x7fu, 7 - E, deft8_bias(E));
  return (c & 0x80u) ? -v : v;
}
// The kernels' decode: fp32 pattern then one multiply (documented above).
DEFTNN_HD float deft8_scale(int E) { return u2f(uint32_t(127 - deft8_bias(E) + 127) << 23); }
DEFTNN_HD float deft8_decode_fast(uint32_t c, int E) {
  return u2f(((c & 0x80u) << 24) | ((c & 0x7fu) << (16 + E))) * deft8_scale(E);
}

// ------------------------------------------------------------------- fp8
DEFTNN_HD uint8_t e4m3_encode(float x, Rounding r) {
  uint32_t u = f2u(x), s = (u >> 24) & 0x80u;
  if (is_nan_bits(u)) return 0x7fu;
  return uint8_t(s | minifloat_mag(std::fabs(x), 4, 3, 7, 0x7eu, 0, r));
}
DEFTNN_HD float e4m3_decode(uint8_t c) {
  if ((c & 0x7fu) == 0x7fu) return u2f(0x7fc00000u | (uint32_t(c & 0x80u) << 24));
  float v = minifloat_value(c & 0x7fu, 3, 7);
  return (c & 0x80u) ? -v : v;
}
DEFTNN_HD uint8_t e5m2_encode(float x, Rounding r) {
  uint32_t u = f2u(x), s = (u >> 24) & 0x80u;
  if (is_nan_bits(u)) return 0x7fu;
  return uint8_t(s | minifloat_mag(std::fabs(x), 5, 2, 15, 0x7bu, 0, r));
}
DEFTNN_HD float e5m2_decode(uint8_t c) {
  uint32_t mag = c & 0x7fu;
  float sg = (c & 0x80u) ? -1.f : 1.f;
  if (mag == 0x7cu) return sg * INFINITY;
  if (mag > 0x7cu) return u2f(0x7fc00000u | (uint32_t(c & 0x80u) << 24));
  return sg * minifloat_value(mag, 2, 15);
}

// ------------------------------------------------- by Format (host side)
// Encodes/decodes one value of a single-value format (every format but deft16q,
// whose values come in pairs; fp32 passes through). Codes are returned in the
// low bits of a uint32_t.
inline uint32_t encode(const Format& f, float x, Rounding r) {
  switch (f.kind) {
    case FormatKind::FP32: return f2u(x);
    case FormatKind::Half: return half_encode(x, r);
    case FormatKind::Deft16:
    case FormatKind::Deft16Q: return deft16_encode(x, r);
    case FormatKind::Deft8: return deft8_encode(x, f.exp_bits, r);
    case FormatKind::FP8E4M3: return e4m3_encode(x, r);
    case FormatKind::FP8E5M2: return e5m2_encode(x, r);
  }
  return 0;
}
inline float decode(const Format& f, uint32_t c) {
  switch (f.kind) {
    case FormatKind::FP32: return u2f(c);
    case FormatKind::Half: return half_decode(uint16_t(c));
    case FormatKind::Deft16:
    case FormatKind::Deft16Q: return deft16_decode(uint16_t(c));
    case FormatKind::Deft8: return deft8_decode(uint8_t(c), f.exp_bits);
    case FormatKind::FP8E4M3: return e4m3_decode(uint8_t(c));
    case FormatKind::FP8E5M2: return e5m2_decode(uint8_t(c));
  }
  return 0;
}

// Rounds a contiguous run of values through format f exactly as the kernels
// store them (pairs (2i, 2i+1) share a word in deft16q, so n should be even
// there; an odd tail is paired with 0). Returns the decoded values.
inline void round_trip(const Format& f, const float* x, float* out, int64_t n, Rounding r) {
  if (f.kind == FormatKind::Deft16Q) {
    for (int64_t i = 0; i < n; i += 2) {
      uint32_t w = deft16q_encode_pair(x[i], i + 1 < n ? x[i + 1] : 0.f, r);
      out[i] = deft16q_decode_lo(w);
      if (i + 1 < n) out[i + 1] = deft16q_decode_hi(w);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = decode(f, encode(f, x[i], r));
}

}  // namespace codec
}  // namespace deftnn
