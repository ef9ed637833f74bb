// Mixed-input GEMM weights on the CPU: the element codecs, the packed layout,
// the round trip decode(pack(W)), and the kernel's unpack functors run on the
// host over whole packed matrices (gemm/mixed/mixed_layout.h is the same code
// on both sides), checked against the MMA B-fragment definition.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "gemm/mixed/mixed_gemm.h"
#include "gemm/mixed/mixed_kernel_plan.h"
#include "gemm/mixed/mixed_layout.h"
#include "gemm/mixed/mixed_pack.h"
#include "test_util.h"

namespace deftnn::mixed {
namespace {

std::vector<uint32_t> all_codes(const WeightFormat& f) {
  std::vector<uint32_t> c;
  for (uint32_t i = 0; i < (f.bits() == 8 ? 256u : 16u); ++i) {
    if (f.kind == WeightKind::FP8E4M3 && (i & 0x7fu) == 0x7fu) continue;  // NaN, never produced
    if (f.kind == WeightKind::Int8 && i == 0) continue;                   // q = -128, never produced
    if (f.kind == WeightKind::Int4 && i == 0) continue;                   // q = -8, never produced
    c.push_back(i);
  }
  return c;
}

// The weight matrices the tests pack: rows of very different magnitudes
// (scales from 2^-12 to 2^8), a zero row, and some exact zeros.
std::vector<float> test_weights(int64_t n, int64_t k, uint64_t seed) {
  std::vector<float> w = test::random_vector(size_t(n * k), seed);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) {
      float& x = w[size_t(r * k + c)];
      x *= std::ldexp(1.f, int(r % 21) - 12);
      if (r == 5) x = 0;
      if ((r * 7 + c) % 37 == 0) x = 0;
    }
  return w;
}

TEST(MixedFormat, NamesRoundTripAndUnknownListsKnown) {
  for (const WeightFormat& f : all_weight_formats()) EXPECT_EQ(WeightFormat::parse(f.name()), f) << f.name();
  try {
    WeightFormat::parse("int3");
    FAIL() << "int3 parsed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fp4e2m1"), std::string::npos) << e.what();
  }
}

TEST(MixedFormat, EveryCodeValueIsExactInBf16) {
  for (const WeightFormat& f : all_weight_formats())
    for (uint32_t c : all_codes(f)) {
      const double v = code_value(f, c);
      EXPECT_EQ(double(bf16_to_float(codec::deft16_encode(float(v), Rounding::Nearest))), v)
          << f.name() << " code " << c;
      EXPECT_LE(std::fabs(v), f.max_value()) << f.name() << " code " << c;
    }
}

TEST(MixedFormat, EncodeIsNearestCodeAgainstBruteForce) {
  for (const WeightFormat& f : all_weight_formats()) {
    const std::vector<uint32_t> codes = all_codes(f);
    Rng rng(17);
    for (int i = 0; i < 4000; ++i) {
      // values across the whole range, past the maximum (saturation) and tiny ones
      double v = rng.uniform(-1.2f, 1.2f) * f.max_value();
      if (i % 4 == 1) v *= std::ldexp(1.0, -int(rng.below(24)));
      const uint32_t c = encode_scaled(f, v);
      const double err = std::fabs(code_value(f, c) - v);
      double best = 1e300;
      for (uint32_t d : codes) best = std::min(best, std::fabs(code_value(f, d) - double(float(v))));
      // (the 8-bit floats round v to fp32 first: allow that rounding)
      ASSERT_LE(err, best + std::fabs(v) * 1e-7 + 1e-300) << f.name() << " v " << v << " code " << c;
    }
    EXPECT_EQ(code_value(f, encode_scaled(f, 1e30)), f.max_value()) << f.name();
    EXPECT_EQ(code_value(f, encode_scaled(f, -1e30)), -f.max_value()) << f.name();
    EXPECT_EQ(code_value(f, zero_code(f)), 0.0) << f.name();
  }
}

TEST(MixedLayout, PackedLocIsABijection) {
  for (int bits : {8, 4}) {
    const int64_t np = 2 * kPadN, kp = 3 * kPadK;
    std::set<std::pair<int64_t, int>> seen;
    for (int64_t n = 0; n < np; ++n)
      for (int64_t k = 0; k < kp; ++k) {
        const PackedLoc l = packed_loc(bits, kp, n, k);
        ASSERT_GE(l.byte, 0);
        ASSERT_LT(l.byte, np * kp * bits / 8) << "bits " << bits << " n " << n << " k " << k;
        ASSERT_TRUE(seen.insert({l.byte, l.shift}).second) << "bits " << bits << " n " << n << " k " << k;
      }
    EXPECT_EQ(int64_t(seen.size()), np * kp);
  }
}

// decode(pack(W)) against the format's quantisation written out here:
// scale per row (8-bit) or per row and group of 128 (4-bit) = max|w| / max_value,
// value = value(encode(w / scale)) * scale.
TEST(MixedPack, RoundTripEqualsQuantisation) {
  for (const WeightFormat& f : all_weight_formats()) {
    for (auto [n, k] : std::vector<std::pair<int64_t, int64_t>>{{72, 384}, {75, 389}, {8, 128}, {3, 1}}) {
      const std::vector<float> w = test_weights(n, k, uint64_t(n * 131 + k));
      const PackedWeights p = pack_weights(w.data(), n, k, f);
      ASSERT_EQ(p.np % kPadN, 0);
      ASSERT_EQ(p.kp % kPadK, 0);
      ASSERT_EQ(int64_t(p.bytes.size()), p.np * p.kp * f.bits() / 8);
      const std::vector<float> d = decode_weights(p);
      const int64_t G = f.group() ? f.group() : k;
      size_t bad = 0;
      for (int64_t r = 0; r < n; ++r)
        for (int64_t g0 = 0; g0 < k; g0 += G) {
          double amax = 0;
          for (int64_t c = g0; c < std::min(k, g0 + G); ++c) amax = std::max(amax, double(std::fabs(w[size_t(r * k + c)])));
          const float s = amax > 0 ? float(amax / f.max_value()) : 1.f;
          for (int64_t c = g0; c < std::min(k, g0 + G); ++c) {
            const float want = float(code_value(f, encode_scaled(f, double(w[size_t(r * k + c)]) / s)) * double(s));
            if (d[size_t(r * k + c)] != want && bad++ < 5)
              ADD_FAILURE() << f.name() << " " << n << "x" << k << " (" << r << ", " << c << "): decoded "
                            << d[size_t(r * k + c)] << " want " << want;
          }
        }
      EXPECT_EQ(bad, 0u) << f.name() << " " << n << "x" << k;
      // padding: zero codes
      for (int64_t r = 0; r < p.np; ++r)
        for (int64_t c = (r < n ? k : 0); c < p.kp; ++c)
          ASSERT_EQ(code_value(f, packed_code(p, r, c)), 0.0) << f.name() << " pad (" << r << ", " << c << ")";
    }
  }
}

TEST(MixedPack, QuantisationErrorWithinFormatStep) {
  // |dec(w) - w| <= half the format's step at max|w| (ints) or relative 2^-(M+1) above the subnormals (floats).
  for (const WeightFormat& f : all_weight_formats()) {
    const int64_t n = 16, k = 256;
    const std::vector<float> w = test_weights(n, k, 99);
    const PackedWeights p = pack_weights(w.data(), n, k, f);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) {
        const double x = w[size_t(r * k + c)], s = packed_scale(p, r, c), e = std::fabs(decoded_weight(p, r, c) - x);
        double bound;
        switch (f.kind) {
          case WeightKind::Int8:
          case WeightKind::Int4: bound = 0.5 * s; break;
          case WeightKind::FP8E4M3: bound = std::max(std::fabs(x) / 16, s * std::ldexp(1.0, -10)); break;
          case WeightKind::Deft8:
            bound = std::max(std::fabs(x) * std::ldexp(1.0, -(8 - f.exp_bits)),
                             s * std::ldexp(1.0, 1 - ((1 << (f.exp_bits - 1)) - 1) - (7 - f.exp_bits) - 1));
            break;
          case WeightKind::FP4E2M1: bound = std::max(std::fabs(x) / 4, s * 0.25); break;
        }
        ASSERT_LE(e, bound * (1 + 1e-6)) << f.name() << " (" << r << ", " << c << ") w " << x << " scale " << s;
      }
  }
}

TEST(MixedPack, RefusesNonFiniteWeights) {
  std::vector<float> w(8 * 16, 1.f);
  w[37] = std::nanf("");
  EXPECT_THROW(pack_weights(w.data(), 8, 16, WeightFormat{WeightKind::Int8}), Error);
}

// The unpack functor for a format, run on the host.
void unpack_host(const WeightFormat& f, uint32_t w, uint32_t* b) {
  switch (f.kind) {
    case WeightKind::Int8: UnpackInt8::word(w, b); break;
    case WeightKind::FP8E4M3: UnpackE4M3::word(w, b); break;
    case WeightKind::Int4: UnpackInt4::word(w, b); break;
    case WeightKind::FP4E2M1: UnpackE2M1::word(w, b); break;
    case WeightKind::Deft8:
      switch (f.exp_bits) {
        case 1: UnpackDeft8<1>::word(w, b); break;
        case 2: UnpackDeft8<2>::word(w, b); break;
        case 3: UnpackDeft8<3>::word(w, b); break;
        case 4: UnpackDeft8<4>::word(w, b); break;
        case 5: UnpackDeft8<5>::word(w, b); break;
        case 6: UnpackDeft8<6>::word(w, b); break;
        case 7: UnpackDeft8<7>::word(w, b); break;
      }
      break;
  }
}

// Every code in every position of a word unpacks to its value (8-bit: byte i
// -> register i / 2, half i % 2; 4-bit: nibble p -> register p % 4, half p / 4).
TEST(MixedUnpack, EveryCodeInEveryPosition) {
  for (const WeightFormat& f : all_weight_formats()) {
    const int per_word = 32 / f.bits();
    for (uint32_t c : all_codes(f))
      for (int pos = 0; pos < per_word; ++pos) {
        // the other positions hold a different code so leaks between lanes show
        const uint32_t other = all_codes(f)[(c * 7 + 3) % all_codes(f).size()];
        uint32_t w = 0;
        for (int i = 0; i < per_word; ++i) w |= (i == pos ? c : other) << (f.bits() * i);
        uint32_t b[4] = {0, 0, 0, 0};
        unpack_host(f, w, b);
        const int reg = f.bits() == 8 ? pos / 2 : pos % 4, half = f.bits() == 8 ? pos % 2 : pos / 4;
        const float got = bf16_to_float((b[reg] >> (16 * half)) & 0xffffu);
        ASSERT_EQ(double(got), code_value(f, c)) << f.name() << " code " << c << " at position " << pos << " word 0x"
                                                 << std::hex << w;
      }
  }
}

// The kernel's data path for B on the host: for every n-tile, chunk, lane and
// word, the unpacked registers equal the fragment the MMA expects:
// b0 = {W[n][k0+2t], W[n][k0+2t+1]}, b1 = {W[n][k0+2t+8], W[n][k0+2t+9]},
// n = tile * 8 + lane / 4, t = lane % 4 (values before the scale).
TEST(MixedUnpack, PackedMatrixGivesTheMmaFragments) {
  for (const WeightFormat& f : all_weight_formats()) {
    const int64_t n = 70, k = 300;
    const std::vector<float> w = test_weights(n, k, 5);
    const PackedWeights p = pack_weights(w.data(), n, k, f);
    const int ck = chunk_k(f.bits()), steps_per_word = f.bits() == 8 ? 1 : 2;
    const int64_t kcs = p.kp / ck;
    size_t bad = 0;
    for (int64_t nt = 0; nt < p.np / kTileN; ++nt)
      for (int64_t kc = 0; kc < kcs; ++kc)
        for (int lane = 0; lane < kLanes; ++lane) {
          const int g = lane / 4, t = lane % 4;
          const uint8_t* lb = &p.bytes[size_t(((nt * kcs + kc) * kLanes + lane) * kLaneBytes)];
          for (int j = 0; j < 4; ++j) {
            uint32_t word;
            std::memcpy(&word, lb + 4 * j, 4);
            uint32_t b[4];
            unpack_host(f, word, b);
            for (int s = 0; s < steps_per_word; ++s)
              for (int r = 0; r < 2; ++r)
                for (int h = 0; h < 2; ++h) {
                  const int64_t row = nt * kTileN + g, col = kc * ck + 16 * (j * steps_per_word + s) + 2 * t + 8 * r + h;
                  const double want = code_value(f, packed_code(p, row, col));
                  const double got = bf16_to_float((b[2 * s + r] >> (16 * h)) & 0xffffu);
                  if (got != want && bad++ < 5)
                    ADD_FAILURE() << f.name() << " tile " << nt << " chunk " << kc << " lane " << lane << " word " << j
                                  << " step " << s << " reg " << r << " half " << h << ": W[" << row << "][" << col
                                  << "] got " << got << " want " << want;
                }
          }
        }
    EXPECT_EQ(bad, 0u) << f.name();
  }
}

// ----------------------------------------------------------------------------
// The kernel's data flow replayed on the host: the loops of
// kernels/mixed_gemm.cu over blocks, splits, stages, chunks, words and steps,
// with its index arithmetic (gemm/mixed/mixed_kernel_plan.h) and its unpack
// functors, and ldmatrix.x4 / mma.m16n8k16 emulated from their PTX fragment
// definitions. Checks the composition of layout, slab staging, A/B/C fragment
// mappings, group scales, split-K ranges and the epilogue without a GPU.
std::vector<float> emulate_kernel(const PackedWeights& p, const std::vector<uint16_t>& x, int64_t M, int64_t ldx,
                                  int split_k, int sms, MixedLaunch* plan_out = nullptr) {
  const MixedLaunch L = plan_mixed_launch(M, p.np, p.kp, p.format.bits(), split_k, sms);
  if (plan_out) *plan_out = L;
  const int bits = p.format.bits(), CK = chunk_k(bits), SPW = bits == 8 ? 1 : 2, MB = L.mb;
  const bool grouped = bits == 4;
  const int64_t kcs = p.kp / CK, N = p.n, K = p.k;
  const int SK = slab_k(MB), LDS = slab_lds(MB), CPS = SK / CK;
  std::vector<float> y(size_t(M * N), L.atomic() ? 0.f : std::nanf(""));
  auto word_at = [&](int64_t u4, int j) {
    uint32_t w;
    std::memcpy(&w, &p.bytes[size_t(u4 * 16 + 4 * j)], 4);
    return w;
  };
  std::vector<uint16_t> xs(size_t(16 * MB * LDS));
  for (int64_t bz = 0; bz < L.mblocks; ++bz)
    for (int by = 0; by < L.splits; ++by)
      for (int64_t bx = 0; bx < L.nblocks; ++bx) {
        const int64_t m0 = bz * 16 * MB, kc_begin = int64_t(by) * L.chunks_per_split;
        const int64_t kc_end = std::min(kcs, kc_begin + L.chunks_per_split);
        // acc[warp][lane][mb][nt][4]
        std::vector<float> acc(size_t(kWarps * 32 * MB * kNT * 4), 0.f);
        auto A_ = [&](std::vector<float>& v, int w, int l, int mb, int nt, int i) -> float& {
          return v[size_t((((w * 32 + l) * MB + mb) * kNT + nt) * 4 + i)];
        };
        for (int64_t kc = kc_begin; kc < kc_end; kc += kU) {
          const int in_slab = int((kc - kc_begin) % CPS);
          if (in_slab == 0)
            for (int r = 0; r < 16 * MB; ++r)
              for (int c = 0; c < SK; ++c) {
                const int64_t m = m0 + r, k = kc * CK + c;
                xs[size_t(r * LDS + c)] = (m < M && k < K) ? x[size_t(m * ldx + k)] : 0;
              }
          for (int u = 0; u < kU; ++u) {
            if (kc + u >= kc_end) break;
            for (int w = 0; w < kWarps; ++w) {
              const int tile0 = warp_tile0(int(bx), w);
              std::vector<float> gacc(acc.size(), 0.f);
              std::vector<float>& dst = grouped ? gacc : acc;
              for (int j = 0; j < 4; ++j) {
                uint32_t b[32][kNT][4];
                for (int l = 0; l < 32; ++l)
                  for (int nt = 0; nt < kNT; ++nt) unpack_host(p.format, word_at(chunk_uint4(tile0 + nt, kcs, kc + u, l), j), b[l][nt]);
                for (int s = 0; s < SPW; ++s) {
                  const int kk = step_k_in_slab(in_slab, u, j, s, CK, SPW);
                  for (int mb = 0; mb < MB; ++mb) {
                    // ldmatrix.x4: lane 8i + r gives the address of row r of matrix i;
                    // thread T receives of matrix i the elements (row T/4, cols 2(T%4), 2(T%4)+1).
                    uint32_t a[32][4];
                    for (int T = 0; T < 32; ++T)
                      for (int i = 0; i < 4; ++i) {
                        const int off = a_lds_offset(mb, 8 * i + T / 4, kk, LDS) + 2 * (T % 4);
                        a[T][i] = xs[size_t(off)] | (uint32_t(xs[size_t(off + 1)]) << 16);
                      }
                    // mma.m16n8k16: A reg0 (g, 2t..), reg1 (g+8, 2t..), reg2 (g, 2t+8..), reg3 (g+8, 2t+8..);
                    // B reg0 (2t.., g), reg1 (2t+8.., g); C c0,c1 (g, 2t..), c2,c3 (g+8, 2t..).
                    float Am[16][16];
                    for (int T = 0; T < 32; ++T) {
                      const int g = T / 4, t = T % 4;
                      for (int e = 0; e < 2; ++e) {
                        Am[g][2 * t + e] = bf16_to_float((a[T][0] >> (16 * e)) & 0xffff);
                        Am[g + 8][2 * t + e] = bf16_to_float((a[T][1] >> (16 * e)) & 0xffff);
                        Am[g][2 * t + 8 + e] = bf16_to_float((a[T][2] >> (16 * e)) & 0xffff);
                        Am[g + 8][2 * t + 8 + e] = bf16_to_float((a[T][3] >> (16 * e)) & 0xffff);
                      }
                    }
                    for (int nt = 0; nt < kNT; ++nt) {
                      float Bm[16][8], Cm[16][8];
                      for (int T = 0; T < 32; ++T) {
                        const int g = T / 4, t = T % 4;
                        for (int e = 0; e < 2; ++e) {
                          Bm[2 * t + e][g] = bf16_to_float((b[T][nt][2 * s] >> (16 * e)) & 0xffff);
                          Bm[2 * t + 8 + e][g] = bf16_to_float((b[T][nt][2 * s + 1] >> (16 * e)) & 0xffff);
                          Cm[g][2 * t + e] = A_(dst, w, T, mb, nt, e);
                          Cm[g + 8][2 * t + e] = A_(dst, w, T, mb, nt, 2 + e);
                        }
                      }
                      for (int r = 0; r < 16; ++r)
                        for (int c = 0; c < 8; ++c) {
                          double sum = Cm[r][c];
                          for (int k = 0; k < 16; ++k) sum += double(Am[r][k]) * double(Bm[k][c]);
                          Cm[r][c] = float(sum);
                        }
                      for (int T = 0; T < 32; ++T) {
                        const int g = T / 4, t = T % 4;
                        for (int e = 0; e < 2; ++e) {
                          A_(dst, w, T, mb, nt, e) = Cm[g][2 * t + e];
                          A_(dst, w, T, mb, nt, 2 + e) = Cm[g + 8][2 * t + e];
                        }
                      }
                    }
                  }
                }
              }
              if (grouped)
                for (int l = 0; l < 32; ++l)
                  for (int nt = 0; nt < kNT; ++nt) {
                    const int64_t si = group_scale_index(kc + u, p.np, tile0 + nt, l);
                    const float sx = p.scales[size_t(si)], sy = p.scales[size_t(si + 1)];
                    for (int mb = 0; mb < MB; ++mb)
                      for (int i = 0; i < 4; ++i)
                        A_(acc, w, l, mb, nt, i) = std::fma(A_(gacc, w, l, mb, nt, i), i % 2 ? sy : sx, A_(acc, w, l, mb, nt, i));
                  }
            }
          }
        }
        for (int w = 0; w < kWarps; ++w)
          for (int l = 0; l < 32; ++l)
            for (int nt = 0; nt < kNT; ++nt) {
              const int g = l / 4, t = l % 4;
              const int64_t n = int64_t(warp_tile0(int(bx), w) + nt) * kTileN + 2 * t;
              const float sx = grouped ? 1.f : p.scales[size_t(n)], sy = grouped ? 1.f : p.scales[size_t(n + 1)];
              for (int mb = 0; mb < MB; ++mb)
                for (int h = 0; h < 2; ++h) {
                  const int64_t m = m0 + mb * 16 + g + 8 * h;
                  if (m >= M) continue;
                  const float v[2] = {A_(acc, w, l, mb, nt, 2 * h) * sx, A_(acc, w, l, mb, nt, 2 * h + 1) * sy};
                  for (int e = 0; e < 2; ++e)
                    if (n + e < N) {
                      float& o = y[size_t(m * N + n + e)];
                      o = L.atomic() ? o + v[e] : v[e];
                    }
                }
            }
      }
  return y;
}

TEST(MixedKernelEmulation, PlanSplitsAndCoversK) {
  for (int bits : {8, 4})
    for (int64_t kp : {128, 384, 4224, 11008 + 128 - 11008 % 128})
      for (int64_t M : {1, 16, 17, 64, 130})
        for (int split : {kSplitAuto, kSplitOff, 3}) {
          const MixedLaunch L = plan_mixed_launch(M, 4096, kp, bits, split, 132);
          const int64_t kcs = kp / chunk_k(bits);
          ASSERT_EQ(L.chunks_per_split % kU, 0);
          ASSERT_GE(int64_t(L.splits) * L.chunks_per_split, kcs) << "bits " << bits << " kp " << kp << " M " << M;
          ASSERT_LT(int64_t(L.splits - 1) * L.chunks_per_split, kcs) << "an empty split";
          ASSERT_GE(L.mblocks * 16 * L.mb, M);
          if (split == kSplitOff) ASSERT_EQ(L.splits, 1);
        }
  // 4096 x 4096 at one token on 132 SMs: 64 n-blocks x 8 splits
  const MixedLaunch L = plan_mixed_launch(1, 4096, 4096, 8, kSplitAuto, 132);
  EXPECT_EQ(L.nblocks, 64);
  EXPECT_EQ(L.splits, 8);
  EXPECT_EQ(L.chunks_per_split, 8);
}

TEST(MixedKernelEmulation, EmulatedKernelMatchesReference) {
  struct C { int64_t M, N, K; };
  for (const WeightFormat& f : all_weight_formats())
    for (C c : {C{3, 72, 384}, C{17, 8, 200}, C{33, 70, 1100}, C{70, 64, 128}})
      for (int split : {kSplitOff, kSplitAuto, 3})
        for (bool exact : {true, false}) {
          if (!exact && (f.kind == WeightKind::Deft8 && f.exp_bits != 4)) continue;
          const int64_t ldx = (c.K + 7) / 8 * 8 + 8;
          std::vector<float> w = exact ? test::small_int_vector(size_t(c.N * c.K), 11, 2) : test_weights(c.N, c.K, 12);
          std::vector<float> xf(size_t(c.M * ldx), std::nanf(""));
          const std::vector<float> xv = exact ? test::small_int_vector(size_t(c.M * c.K), 13, 3)
                                              : test::random_vector(size_t(c.M * c.K), 14);
          for (int64_t i = 0; i < c.M; ++i)
            for (int64_t k = 0; k < c.K; ++k) xf[size_t(i * ldx + k)] = xv[size_t(i * c.K + k)];
          const PackedWeights p = pack_weights(w.data(), c.N, c.K, f, 0, exact ? 1.f : 0.f);
          const std::vector<uint16_t> xb = to_bf16(xf);
          std::vector<double> ref, asum;
          reference_gemm(p, xb.data(), c.M, ldx, ref, &asum);
          MixedLaunch L;
          const std::vector<float> y = emulate_kernel(p, xb, c.M, ldx, split, 132, &L);
          size_t bad = 0;
          for (size_t i = 0; i < y.size(); ++i) {
            const double tol = exact ? 0 : 2 * (double(c.K) / 16 + double(c.K) / 128 + L.splits + 2) * std::ldexp(1.0, -23) * asum[i];
            const bool ok = std::isfinite(y[i]) && std::fabs(double(y[i]) - ref[i]) <= tol;
            if (!ok && bad++ < 3)
              ADD_FAILURE() << f.name() << " M=" << c.M << " N=" << c.N << " K=" << c.K << " split " << split << " ("
                            << L.splits << ") " << (exact ? "exact" : "random") << ": Y[" << i / size_t(c.N) << "]["
                            << i % size_t(c.N) << "] got " << y[i] << " want " << ref[i];
          }
          ASSERT_EQ(bad, 0u);
        }
}

TEST(MixedReference, SmallIntegersExact) {
  // X and W small integers, scale 1: the reference is an integer dot product.
  for (const WeightFormat& f : all_weight_formats()) {
    const int64_t m = 3, n = 9, k = 130;
    std::vector<float> w = test::small_int_vector(size_t(n * k), 3, 2), x = test::small_int_vector(size_t(m * k), 4, 3);
    const PackedWeights p = pack_weights(w.data(), n, k, f, 0, 1.f);
    const std::vector<uint16_t> xb = to_bf16(x);
    std::vector<double> y, a;
    reference_gemm(p, xb.data(), m, 0, y, &a);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t r = 0; r < n; ++r) {
        double want = 0, aw = 0;
        for (int64_t c = 0; c < k; ++c)
          want += double(x[size_t(i * k + c)]) * w[size_t(r * k + c)], aw += std::fabs(x[size_t(i * k + c)] * w[size_t(r * k + c)]);
        ASSERT_EQ(y[size_t(i * n + r)], want) << f.name() << " (" << i << ", " << r << ")";
        ASSERT_EQ(a[size_t(i * n + r)], aw);
      }
  }
}

}  // namespace
}  // namespace deftnn::mixed
