// The packed layout of mixed-input GEMM weights and the unpack of one 32-bit
// word into bf16x2 MMA B-fragment registers, for the host (packing, tests that
// emulate the kernel's data path) and the device (kernels/mixed_gemm.cu). The
// same code runs on both sides, so a CPU test of this header checks the
// layout and the bit tricks the kernel uses.
//
// mma.sync.m16n8k16.row.col.bf16: B is k16 x n8 "col", i.e. W (N, K) row-major
// read directly. Lane l (g = l / 4, t = l % 4) holds for n = g:
//   b0 = {W[n][k0 + 2t], W[n][k0 + 2t + 1]}      (lower half = lower k)
//   b1 = {W[n][k0 + 2t + 8], W[n][k0 + 2t + 9]}
// Packed layout: W (N, K) is padded to Np (multiple of kPadN) x Kp (multiple
// of kPadK) with zero codes and cut into chunks of 8 rows x chunk_k(bits)
// columns (k64 for 8-bit, k128 for 4-bit formats). A chunk is 512 bytes: 16 per
// lane, so one 128-bit load per lane brings a warp a whole chunk. Chunks are
// ordered [n-tile of 8 rows][k-chunk], lanes in order inside a chunk.
// A lane's 16 bytes are 4 words:
//   8-bit: word j = k16 step j of the chunk; bytes 0..3 = k 2t, 2t+1, 2t+8, 2t+9.
//   4-bit: word j = k16 steps 2j and 2j+1; nibble p (bits 4p..4p+3) of the
//          word: pair q = p % 4 (step 2j + q / 2, register q % 2), and p / 4
//          the half (0: k even, 1: k odd), i.e. pair q takes nibbles q and q+4.
#pragma once

#include <cstdint>
#include <cstring>

#include "formats/codec.h"

namespace deftnn::mixed {

inline constexpr int kLanes = 32;
inline constexpr int kLaneBytes = 16;                    // one 128-bit load per lane per chunk
inline constexpr int kChunkBytes = kLanes * kLaneBytes;  // 512
inline constexpr int kTileN = 8;                         // the MMA's n8
inline constexpr int kPadN = 64;                         // rows of one thread block (kernel: 4 warps x 2 n-tiles)
inline constexpr int kPadK = 128;                        // the group size and the 4-bit chunk

DEFTNN_HD constexpr int chunk_k(int bits) { return bits == 8 ? 64 : 128; }

// Where element (n, k) of W lives in the packed bytes: byte offset and the
// bit shift inside that byte (0, or 4 for the odd nibble of a 4-bit byte).
struct PackedLoc {
  int64_t byte = 0;
  int shift = 0;
};
inline PackedLoc packed_loc(int bits, int64_t kp, int64_t n, int64_t k) {
  const int ck = chunk_k(bits);
  const int64_t kcs = kp / ck, nt = n / kTileN, kc = k / ck;
  const int g = int(n % kTileN), kk = int(k % ck), step = kk / 16, ks = kk % 16;
  const int t = (ks % 8) / 2, parity = ks % 2, reg = ks / 8, lane = g * 4 + t;
  const int64_t base = ((nt * kcs + kc) * kLanes + lane) * kLaneBytes;
  if (bits == 8) return {base + 4 * step + reg * 2 + parity, 0};
  const int pair = (step % 2) * 2 + reg, p = pair + 4 * parity;
  return {base + 4 * (step / 2) + p / 2, 4 * (p % 2)};
}

// ------------------------------------------------ primitives, both sides
DEFTNN_HD uint32_t byte_perm(uint32_t a, uint32_t b, uint32_t sel) {
#if defined(__CUDA_ARCH__)
  return __byte_perm(a, b, sel);
#else
  const uint64_t x = (uint64_t(b) << 32) | a;
  uint32_t d = 0;
  for (int i = 0; i < 4; ++i) d |= uint32_t((x >> (8 * ((sel >> (4 * i)) & 7u))) & 0xffu) << (8 * i);
  return d;  // (the sign-replicate mode, selector bit 3, is never used here)
#endif
}
DEFTNN_HD float bf16_to_float(uint32_t h) { return codec::u2f(h << 16); }
// d = a * b + c on two bf16 lanes. The host emulation is exact for the uses
// here (products by powers of two and sums of small integers, all exact).
DEFTNN_HD uint32_t fma_bf16x2(uint32_t a, uint32_t b, uint32_t c) {
#if defined(__CUDA_ARCH__)
  uint32_t d;
  asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
#else
  uint32_t d = 0;
  for (int h = 0; h < 2; ++h) {
    const int s = 16 * h;
    double r = double(bf16_to_float((a >> s) & 0xffffu)) * double(bf16_to_float((b >> s) & 0xffffu)) +
               double(bf16_to_float((c >> s) & 0xffffu));
    d |= uint32_t(codec::deft16_encode(float(r), Rounding::Nearest)) << s;
  }
  return d;
#endif
}
// Two fp32 values whose low 16 bits are zero, as bf16x2 {lo, hi} (exact).
DEFTNN_HD uint32_t pack_hi16(float lo, float hi) { return byte_perm(codec::f2u(lo), codec::f2u(hi), 0x7632u); }
DEFTNN_HD constexpr uint32_t bf16x2_splat(uint32_t h) { return h | (h << 16); }

// ------------------------------------------------ unpack functors
// Each turns one packed word into bf16x2 B registers: b[2 * s + r] is register
// r (0: b0, 1: b1) of k16 step s of the word (8-bit: one step, 4-bit: two).
// Instruction counts per 4 (8-bit) or 8 (4-bit) values are in docs/fission.md.

// int8: byte u = q + 128; fp32 pattern 0x4B0000uu = 2^23 + u (prmt), minus
// 2^23 + 128 (FADD) = q exactly; bf16 = the fp32's high half (prmt).
struct UnpackInt8 {
  static constexpr int kBits = 8;
  DEFTNN_HD static void word(uint32_t w, uint32_t* b) {
    const uint32_t magic = 0x4B000000u;
    const float bias = 8388736.f;  // 2^23 + 128
    float f0 = codec::u2f(byte_perm(w, magic, 0x7440u)) - bias;
    float f1 = codec::u2f(byte_perm(w, magic, 0x7441u)) - bias;
    float f2 = codec::u2f(byte_perm(w, magic, 0x7442u)) - bias;
    float f3 = codec::u2f(byte_perm(w, magic, 0x7443u)) - bias;
    b[0] = pack_hi16(f0, f1);
    b[1] = pack_hi16(f2, f3);
  }
};

// fp8 e4m3: hardware cvt e4m3x2 -> f16x2, each f16 -> f32, f32 pair -> bf16x2 (all exact).
struct UnpackE4M3 {
  static constexpr int kBits = 8;
  DEFTNN_HD static void word(uint32_t w, uint32_t* b) {
#if defined(__CUDA_ARCH__)
    uint32_t r0, r1;
    asm("{.reg .b16 l, h, a0, a1, a2, a3;\n .reg .b32 h01, h23;\n .reg .f32 f0, f1, f2, f3;\n"
        " mov.b32 {l, h}, %2;\n"
        " cvt.rn.f16x2.e4m3x2 h01, l;\n cvt.rn.f16x2.e4m3x2 h23, h;\n"
        " mov.b32 {a0, a1}, h01;\n mov.b32 {a2, a3}, h23;\n"
        " cvt.f32.f16 f0, a0;\n cvt.f32.f16 f1, a1;\n cvt.f32.f16 f2, a2;\n cvt.f32.f16 f3, a3;\n"
        " cvt.rn.bf16x2.f32 %0, f1, f0;\n cvt.rn.bf16x2.f32 %1, f3, f2;}"
        : "=r"(r0), "=r"(r1) : "r"(w));
    b[0] = r0, b[1] = r1;
#else
    float f[4];
    for (int i = 0; i < 4; ++i) f[i] = codec::e4m3_decode(uint8_t(w >> (8 * i)));
    b[0] = pack_hi16(f[0], f[1]);
    b[1] = pack_hi16(f[2], f[3]);
#endif
  }
};

// Deft-8 E: per pair, prmt the two codes c into the high bytes of the halves
// (c << 8), shift right by 8 - E and mask: magnitude at bf16 bits E..6+E (the
// Deft-8 exponent in the low bits of the bf16 exponent); sign from the prmt
// result (LOP3); then one bf16x2 multiply by 2^(127 - bias), exact also for
// subnormal codes (bf16 denormal inputs are not flushed by fma.rn.bf16x2).
template <int E>
struct UnpackDeft8 {
  static constexpr int kBits = 8;
  static constexpr uint32_t kMag = bf16x2_splat(0x7fu << E);
  static constexpr uint32_t kScale = bf16x2_splat(uint32_t(254 - ((1 << (E - 1)) - 1)) << 7);  // 2^(127 - bias)
  static constexpr uint32_t kNegZero = 0x80008000u;
  DEFTNN_HD static uint32_t pair(uint32_t p) {
    const uint32_t r = (p & 0x80008000u) | ((p >> (8 - E)) & kMag);
    return fma_bf16x2(r, kScale, kNegZero);
  }
  DEFTNN_HD static void word(uint32_t w, uint32_t* b) {
    b[0] = pair(byte_perm(w, 0u, 0x1404u));  // [c1 0 c0 0]
    b[1] = pair(byte_perm(w, 0u, 0x3424u));  // [c3 0 c2 0]
  }
};

// int4: nibble u = q + 8; (w >> 4q) & 0x000f000f | 0x43004300 is bf16 128 + u
// (one LOP3), then one bf16x2 FMA: * 1 - 136 = q exactly.
struct UnpackInt4 {
  static constexpr int kBits = 4;
  static constexpr uint32_t kOne = 0x3F803F80u, kMinus136 = 0xC308C308u;
  DEFTNN_HD static uint32_t pair(uint32_t x) { return fma_bf16x2((x & 0x000f000fu) | 0x43004300u, kOne, kMinus136); }
  DEFTNN_HD static void word(uint32_t w, uint32_t* b) {
    b[0] = pair(w);
    b[1] = pair(w >> 4);
    b[2] = pair(w >> 8);
    b[3] = pair(w >> 12);
  }
};

// fp4 e2m1 (s e e m): magnitude to bf16 bits 6..8, sign to bit 15 (two
// shifts and a LOP3 per pair), then * 2^126 (bias 1; exact, also for the
// subnormal code 0.5).
struct UnpackE2M1 {
  static constexpr int kBits = 4;
  static constexpr uint32_t kScale = bf16x2_splat(253u << 7), kNegZero = 0x80008000u;
  DEFTNN_HD static uint32_t pair(uint32_t mag_shifted, uint32_t sign_shifted) {
    const uint32_t r = (sign_shifted & 0x80008000u) | (mag_shifted & 0x01C001C0u);
    return fma_bf16x2(r, kScale, kNegZero);
  }
  DEFTNN_HD static void word(uint32_t w, uint32_t* b) {
    b[0] = pair(w << 6, w << 12);
    b[1] = pair(w << 2, w << 8);
    b[2] = pair(w >> 2, w << 4);
    b[3] = pair(w >> 6, w);
  }
};

}  // namespace deftnn::mixed
