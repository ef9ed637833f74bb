// Exhaustive tests of the fission number formats (formats/codec.h): every
// code decodes and re-encodes to itself, every pair of neighbouring codes
// rounds correctly at, just above and just below its midpoint (Nearest) and
// just below the upper code (Truncate), and the overflow, underflow, zero and
// NaN rules of the header comment hold.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "formats/codec.h"

namespace deftnn::test {
namespace {

using codec::decode;
using codec::encode;

struct Minifloat {
  Format f;
  uint32_t codes;  // 1 << bits
};
std::vector<Minifloat> single_formats() {
  std::vector<Minifloat> v = {{{FormatKind::Half}, 1u << 16}, {{FormatKind::Deft16}, 1u << 16},
                              {{FormatKind::FP8E4M3}, 256}, {{FormatKind::FP8E5M2}, 256}};
  for (int e = 1; e <= 7; ++e) v.push_back({{FormatKind::Deft8, e}, 256});
  return v;
}
float next_down(float x) { return std::nextafter(x, 0.f); }
float next_up(float x) { return std::nextafter(x, std::numeric_limits<float>::infinity()); }

TEST(Codec, NamesRoundTrip) {
  for (const Format& f : all_formats()) EXPECT_EQ(Format::parse(f.name()), f);
  EXPECT_THROW(Format::parse("fp7"), Error);
}

TEST(Codec, EveryCodeRoundTrips) {
  for (const auto& [f, n] : single_formats()) {
    for (uint32_t c = 0; c < n; ++c) {
      float v = decode(f, c);
      if (std::isnan(v)) {
        EXPECT_TRUE(std::isnan(decode(f, encode(f, v, Rounding::Nearest)))) << f.name() << " code " << c;
        continue;
      }
      if (std::isinf(v) && f.kind == FormatKind::FP8E5M2) {  // satfinite: Inf encodes as the largest finite
        EXPECT_EQ(encode(f, v, Rounding::Nearest), c - 1);
        continue;
      }
      for (Rounding r : {Rounding::Nearest, Rounding::Truncate}) {
        uint32_t back = encode(f, v, r);
        // -0 and +0 are both exact; everything else must come back bit for bit.
        EXPECT_EQ(back, c) << f.name() << " code " << c << " value " << v << " rounding " << int(r);
        if (back != c) break;
      }
    }
  }
}

TEST(Codec, NeighbouringCodesRoundCorrectly) {
  for (const auto& fn : single_formats()) {
    const Format& f = fn.f;  // (not a structured binding: a lambda below captures it,
    const uint32_t n = fn.codes;  // which clang before 16 refuses)
    uint32_t sign = n >> 1;  // the sign bit
    int bad = 0;
    for (uint32_t c = 0; c + 1 < sign && bad < 5; ++c) {
      float lo = decode(f, c), hi = decode(f, c + 1);
      if (!std::isfinite(lo) || !std::isfinite(hi)) continue;
      ASSERT_LT(lo, hi) << f.name() << " code " << c << " not monotonic";
      float mid = float((double(lo) + double(hi)) / 2);  // exact: <= 11 significant bits
      uint32_t even = (c & 1) ? c + 1 : c;
      auto check = [&](float x, Rounding r, uint32_t want, const char* what) {
        for (float s : {1.f, -1.f}) {
          uint32_t w = s < 0 ? (want | sign) : want;
          uint32_t got = encode(f, s * x, r);
          if (got != w && !(want == 0 && (got & ~sign) == 0)) {
            ADD_FAILURE() << f.name() << " " << what << " between codes " << c << " and " << c + 1 << ": x=" << s * x
                          << " got " << got << " want " << w;
            ++bad;
          }
        }
      };
      check(mid, Rounding::Nearest, even, "midpoint");
      check(next_up(mid), Rounding::Nearest, c + 1, "above midpoint");
      check(next_down(mid), Rounding::Nearest, c, "below midpoint");
      check(next_down(hi), Rounding::Truncate, c, "below upper code");
      check(next_up(lo), Rounding::Truncate, c, "above lower code");
    }
  }
}

TEST(Codec, OverflowUnderflowZeroNan) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  const Format h{FormatKind::Half}, d16{FormatKind::Deft16}, e4{FormatKind::FP8E4M3}, e5{FormatKind::FP8E5M2};
  // half: IEEE overflow to Inf when rounding, saturation when truncating.
  EXPECT_EQ(encode(h, 65519.f, Rounding::Nearest), 0x7bffu);
  EXPECT_EQ(encode(h, 65520.f, Rounding::Nearest), 0x7c00u);
  EXPECT_EQ(encode(h, 1e9f, Rounding::Truncate), 0x7bffu);
  EXPECT_EQ(encode(h, -inf, Rounding::Truncate), 0xfc00u);
  EXPECT_EQ(encode(h, 1e-9f, Rounding::Nearest), 0u);
  EXPECT_EQ(encode(h, -1e-9f, Rounding::Nearest), 0x8000u);
  EXPECT_EQ(encode(h, 0x1p-25f, Rounding::Nearest), 0u);          // tie to even (0)
  EXPECT_EQ(encode(h, next_up(0x1p-25f), Rounding::Nearest), 1u);  // above half the smallest subnormal
  EXPECT_TRUE(std::isnan(decode(h, encode(h, nan, Rounding::Nearest))));
  // deft16: pattern RNE, overflow to Inf; truncation never overflows.
  EXPECT_EQ(encode(d16, std::numeric_limits<float>::max(), Rounding::Nearest), 0x7f80u);
  EXPECT_EQ(encode(d16, std::numeric_limits<float>::max(), Rounding::Truncate), 0x7f7fu);
  EXPECT_EQ(encode(d16, -0.f, Rounding::Nearest), 0x8000u);
  EXPECT_TRUE(std::isnan(decode(d16, encode(d16, nan, Rounding::Truncate))));
  EXPECT_EQ(codec::deft16_decode(uint16_t(encode(d16, 1e-40f, Rounding::Truncate))) != 0.f, true);  // subnormals kept
  // fp8: satfinite.
  for (Rounding r : {Rounding::Nearest, Rounding::Truncate}) {
    EXPECT_EQ(encode(e4, 1e6f, r), 0x7eu);
    EXPECT_EQ(encode(e4, -inf, r), 0xfeu);
    EXPECT_EQ(encode(e5, inf, r), 0x7bu);
    EXPECT_EQ(encode(e5, -1e9f, r), 0xfbu);
    EXPECT_EQ(encode(e4, nan, r), 0x7fu);
    EXPECT_EQ(encode(e5, nan, r), 0x7fu);
  }
  EXPECT_EQ(decode(e4, 0x7e), 448.f);
  EXPECT_EQ(decode(e5, 0x7b), 57344.f);
  EXPECT_EQ(decode(e5, 0x7c), inf);
  // deft8: saturation, NaN -> +-max, symmetric zero.
  for (int E = 1; E <= 7; ++E) {
    Format f{FormatKind::Deft8, E};
    EXPECT_EQ(encode(f, inf, Rounding::Nearest), 0x7fu) << E;
    EXPECT_EQ(encode(f, -1e38f, Rounding::Truncate), 0xffu) << E;
    EXPECT_EQ(encode(f, nan, Rounding::Nearest), 0x7fu) << E;
    EXPECT_EQ(encode(f, 0.f, Rounding::Nearest), 0x00u) << E;
    EXPECT_EQ(encode(f, -0.f, Rounding::Nearest), 0x80u) << E;
    EXPECT_EQ(decode(f, 0x80), 0.f) << E;
    for (float x : {1.f, 2.f, -1.f, -2.f, 0.5f}) EXPECT_EQ(decode(f, encode(f, x, Rounding::Nearest)), x) << E << " " << x;
  }
}

TEST(Codec, Deft8FastDecodeMatchesEveryCode) {
  for (int E = 1; E <= 7; ++E)
    for (uint32_t c = 0; c < 256; ++c) {
      float a = codec::deft8_decode(uint8_t(c), E), b = codec::deft8_decode_fast(c, E);
      EXPECT_EQ(codec::f2u(a), codec::f2u(b)) << "E=" << E << " code " << c;
    }
}

TEST(Codec, EightBitNearestMatchesBruteForce) {
  Rng rng(7);
  for (const auto& [f, n] : single_formats()) {
    if (n != 256) continue;
    std::vector<std::pair<float, uint32_t>> vals;
    for (uint32_t c = 0; c < 128; ++c)
      if (std::isfinite(decode(f, c))) vals.push_back({decode(f, c), c});
    for (int t = 0; t < 20000; ++t) {
      float x = float(std::ldexp(rng.uniform(), int(rng.below(40)) - 20));
      // nearest finite code, ties to even; beyond the largest: saturate (these formats)
      double best = 1e300;
      uint32_t bc = 0;
      for (auto [v, c] : vals) {
        double d = std::fabs(double(v) - x);
        if (d < best || (d == best && !(c & 1))) best = d, bc = c;
      }
      ASSERT_EQ(encode(f, x, Rounding::Nearest), bc) << f.name() << " x=" << x;
      // truncation: the largest not above x
      uint32_t tc = 0;
      for (auto [v, c] : vals)
        if (v <= x) tc = std::max(tc, c);
      ASSERT_EQ(encode(f, x, Rounding::Truncate), tc) << f.name() << " x=" << x;
    }
  }
}

TEST(Codec, Deft16QEveryHiCodeWithManyPartners) {
  Rng rng(3);
  std::vector<uint16_t> los = {0, 1, 0x7fff, 0x8000, 0xffff, 0x3f80};
  for (int i = 0; i < 26; ++i) los.push_back(uint16_t(rng.below(65536)));
  for (uint16_t lo : los)
    for (uint32_t hi = 0; hi < 65536; ++hi) {
      uint32_t mag = hi & 0x7fffu;
      if (mag >= 0x7f80u) continue;  // Inf/NaN codes: see below
      uint32_t w = (hi << 16) | lo;
      float x = codec::deft16q_decode_hi(w);
      for (Rounding r : {Rounding::Nearest, Rounding::Truncate})
        ASSERT_EQ(codec::deft16q_encode_hi(x, lo, r), hi) << "hi " << hi << " lo " << lo << " r " << int(r);
    }
  // Error bounds on random values: nearest within half a 16-bit step, truncation never above |x|.
  for (int t = 0; t < 200000; ++t) {
    float x = float(std::ldexp(rng.uniform(-1, 1), int(rng.below(60)) - 30)), y = rng.uniform(-1, 1);
    uint32_t wn = codec::deft16q_encode_pair(y, x, Rounding::Nearest);
    uint32_t wt = codec::deft16q_encode_pair(y, x, Rounding::Truncate);
    double step = std::ldexp(1.0, std::ilogb(x) - 7);
    // half a step inside a binade, at most one step where the word crosses a binade boundary
    ASSERT_LE(std::fabs(double(codec::deft16q_decode_hi(wn)) - x), step) << x;
    ASSERT_LE(std::fabs(double(codec::deft16q_decode_hi(wt))), std::fabs(double(x))) << x;
    ASSERT_LT(std::fabs(double(codec::deft16q_decode_hi(wt)) - x), step) << x;
    ASSERT_EQ(codec::deft16q_decode_lo(wn), codec::deft16_decode(codec::deft16_encode(y, Rounding::Nearest)));
  }
  // Rules: NaN stays NaN; Inf in the hi slot is non-finite; overflow saturates.
  EXPECT_TRUE(std::isnan(codec::deft16q_decode_hi(codec::deft16q_encode_pair(1.f, std::nanf(""), Rounding::Nearest))));
  EXPECT_FALSE(std::isfinite(codec::deft16q_decode_hi(
      codec::deft16q_encode_pair(1.f, std::numeric_limits<float>::infinity(), Rounding::Nearest))));
  EXPECT_TRUE(std::isfinite(codec::deft16q_decode_hi(
      codec::deft16q_encode_pair(1.f, std::numeric_limits<float>::max(), Rounding::Nearest))));
}

}  // namespace
}  // namespace deftnn::test
