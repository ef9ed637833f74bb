// Near-compute data fission GEMM kernels (issue 3): one SIMT fp32-FFMA kernel
// template, instantiated per format and placement.
//
// C = alpha * A * op(B) + beta * C, A the packed weights (gemm/pack.h layout:
// K-major, padded, already in the format), B fp32 activations read from
// global memory and encoded into the shared-memory format as they are stored.
//
// Shape of the kernel (docs/fission.md explains the choices):
//   block tile 128 x 128, k-tile 8, 256 threads in a 16 x 16 grid, 8 x 8
//   outputs per thread (64 fp32 accumulators), double-buffered shared memory
//   with register staging (global loads for tile k+1 are issued before the
//   FFMAs of tile k and stored after them), one __syncthreads per k-tile.
//   Each warp is 4 (m) x 8 (n) threads, so A fragments are broadcast and the
//   B fragment reads of a warp are 128 contiguous bytes (one wavefront).
//   fp32 tiles: a thread's 8 values along m (and n) are two groups of 4
//   (tm*4, 64+tm*4), each one LDS.128. 16-bit tiles: 8 contiguous values, one
//   LDS.128. 8-bit tiles: 8 contiguous values, one LDS.64.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/cuda_check.h"
#include "formats/codec.h"
#include "gemm/backends.h"
#include "gemm/fission_kernels.h"
#include "gemm/pack.h"

namespace deftnn {
namespace fk {

// The device code takes formats/format.h's Format itself as a template
// argument (a structural type), so there is no second numbering of the
// formats. nvcc's host stubs of __global__ templates cannot spell a class-type
// argument, so the kernels take the Format's two fields (FormatKind, exponent
// bits) and hand the rebuilt Format to their body, a __device__ template;
// DEFTNN_FK_FORMAT_ARGS(F) spells the fields at a launch.
constexpr Format F32{FormatKind::FP32}, F16{FormatKind::Half}, D16{FormatKind::Deft16}, D16Q{FormatKind::Deft16Q},
    E4M3{FormatKind::FP8E4M3}, E5M2{FormatKind::FP8E5M2};
__host__ __device__ constexpr int fbytes(Format f) {
  return f.kind == FormatKind::FP32 ? 4
         : (f.kind == FormatKind::Half || f.kind == FormatKind::Deft16 || f.kind == FormatKind::Deft16Q) ? 2
                                                                                                         : 1;
}
__host__ __device__ constexpr bool is_d8(Format f) { return f.kind == FormatKind::Deft8; }
__host__ __device__ constexpr int d8e(Format f) { return f.exp_bits; }
#define DEFTNN_FK_FORMAT_ARGS(F) F.kind, F.exp_bits

constexpr int BM = 128, BN = 128, BK = 8, NT = 256;

// ------------------------------------------------------------ unpacking
// Decodes n consecutive values (n = 4 or 8) held in 32-bit words w.
template <Format F>
__device__ __forceinline__ void unpack_words(const uint32_t* w, float* v, int n) {
  if constexpr (F == F32) {
    for (int i = 0; i < n; ++i) v[i] = __uint_as_float(w[i]);
  } else if constexpr (F == F16) {
    for (int i = 0; i < n / 2; ++i) {
      __half2 h = *reinterpret_cast<const __half2*>(&w[i]);
      float2 f = __half22float2(h);
      v[2 * i] = f.x, v[2 * i + 1] = f.y;
    }
  } else if constexpr (F == D16) {
    for (int i = 0; i < n / 2; ++i) v[2 * i] = __uint_as_float(w[i] << 16), v[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  } else if constexpr (F == D16Q) {
    for (int i = 0; i < n / 2; ++i) v[2 * i] = __uint_as_float(w[i] << 16), v[2 * i + 1] = __uint_as_float(w[i]);
  } else if constexpr (is_d8(F)) {
    constexpr int E = d8e(F);
    const float scale = __uint_as_float(uint32_t(254 - ((1 << (E - 1)) - 1)) << 23);
    for (int i = 0; i < n / 4; ++i) {
      uint32_t x = w[i];
      uint32_t mag = x & 0x7f7f7f7fu, sg = x & 0x80808080u;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        // byte j's magnitude at bit 16+E, its sign at bit 31
        uint32_t mj = (mag >> (8 * j)) & 0x7fu;
        uint32_t bits = (mj << (16 + E)) | ((sg << (24 - 8 * j)) & 0x80000000u);
        v[4 * i + j] = __uint_as_float(bits) * scale;
      }
    }
  } else {
    // Hopper's converter: one cvt per two values to f16x2, then f16 -> f32.
    for (int i = 0; i < n / 4; ++i) {
      uint32_t h01, h23;
      if constexpr (F == E4M3)
        asm("{.reg .b16 l, h;\n mov.b32 {l, h}, %2;\n cvt.rn.f16x2.e4m3x2 %0, l;\n cvt.rn.f16x2.e4m3x2 %1, h;}"
            : "=r"(h01), "=r"(h23) : "r"(w[i]));
      else
        asm("{.reg .b16 l, h;\n mov.b32 {l, h}, %2;\n cvt.rn.f16x2.e5m2x2 %0, l;\n cvt.rn.f16x2.e5m2x2 %1, h;}"
            : "=r"(h01), "=r"(h23) : "r"(w[i]));
      float2 a = __half22float2(*reinterpret_cast<__half2*>(&h01)), b = __half22float2(*reinterpret_cast<__half2*>(&h23));
      v[4 * i] = a.x, v[4 * i + 1] = a.y, v[4 * i + 2] = b.x, v[4 * i + 3] = b.y;
    }
  }
}

// ------------------------------------------------------------- encoding
// Deft-8 encode as the kernels do it: scale into an fp32 pattern whose exponent
// is the Deft-8 one, rounded to odd (exact RNE afterwards), then RNE at bit 16+E.
template <int E>
__device__ __forceinline__ uint32_t d8_encode_dev(float x) {
  constexpr int B = (1 << (E - 1)) - 1;
  const float s = __uint_as_float(B >= 1 ? uint32_t(B) << 23 : 0x00400000u);  // 2^(B-127)
  uint32_t u = __float_as_uint(x);
  uint32_t sign = (u >> 24) & 0x80u;
  if ((u & 0x7fffffffu) > 0x7f800000u) return sign | 0x7fu;
  float ax = fabsf(x);
  float yz = __fmul_rz(ax, s), yu = __fmul_ru(ax, s);
  uint32_t y = __float_as_uint(yz) | uint32_t(yz != yu);
  y += (1u << (15 + E)) - 1u + ((y >> (16 + E)) & 1u);
  uint32_t c = y >> (16 + E);
  return sign | (c > 0x7fu ? 0x7fu : c);
}

// Encodes 2 values into the low 2*bits bits.
template <Format F>
__device__ __forceinline__ uint32_t encode2(float a, float b) {
  if constexpr (F == F16) {
    __half2 h = __floats2half2_rn(a, b);
    return *reinterpret_cast<uint32_t*>(&h);
  } else if constexpr (F == D16) {
    return uint32_t(codec::deft16_encode(a, Rounding::Nearest)) | (uint32_t(codec::deft16_encode(b, Rounding::Nearest)) << 16);
  } else if constexpr (F == D16Q) {
    return codec::deft16q_encode_pair(a, b, Rounding::Nearest);
  } else if constexpr (is_d8(F)) {
    return d8_encode_dev<d8e(F)>(a) | (d8_encode_dev<d8e(F)>(b) << 8);
  } else if constexpr (F == E4M3 || F == E5M2) {
    unsigned short d;  // cvt puts its first operand in the upper byte
    if constexpr (F == E4M3) asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(d) : "f"(b), "f"(a));
    else asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(d) : "f"(b), "f"(a));
    return d;
  } else {
    return 0;  // F32 stores floats directly
  }
}

// Stores 4 (or 2) consecutive values at element index idx of a smem row of format F.
template <Format F>
__device__ __forceinline__ void store4(unsigned char* row, int idx, const float* v) {
  if constexpr (F == F32) {
    *reinterpret_cast<float4*>(row + idx * 4) = make_float4(v[0], v[1], v[2], v[3]);
  } else if constexpr (fbytes(F) == 2) {
    *reinterpret_cast<uint2*>(row + idx * 2) = make_uint2(encode2<F>(v[0], v[1]), encode2<F>(v[2], v[3]));
  } else {
    *reinterpret_cast<uint32_t*>(row + idx) = encode2<F>(v[0], v[1]) | (encode2<F>(v[2], v[3]) << 16);
  }
}
template <Format F>
__device__ __forceinline__ void store2(unsigned char* row, int idx, float a, float b) {
  if constexpr (F == F32) {
    *reinterpret_cast<float2*>(row + idx * 4) = make_float2(a, b);
  } else if constexpr (fbytes(F) == 2) {
    *reinterpret_cast<uint32_t*>(row + idx * 2) = encode2<F>(a, b);
  } else {
    *reinterpret_cast<uint16_t*>(row + idx) = uint16_t(encode2<F>(a, b));
  }
}

// ---------------------------------------------------------------- kernel
struct Params {
  int M, N, K;
  const unsigned char* A;  // packed
  int64_t a_row_bytes;     // bytes per packed row (one k)
  const float* B;
  int64_t ldb;
  float* C;
  int64_t ldc;
  float alpha, beta;
  bool trans_b, trans_c, vec_b;
  int kt_per_split;  // k-tiles per blockIdx.z
  float* partial;    // split-K: [splits][M][N] sums (alpha, beta applied by reduce_kernel)
};

// FA: format of A in global memory; FS: format of both tiles in shared memory;
// H2: half2 FMA (Compute16, FS == F16).
// MINB: minimum resident blocks per SM for the register allocator (2: <= 128
// registers; 1: up to 255, one block per SM, more room for fragment prefetch).
template <Format FA, Format FS, bool H2>
__device__ __forceinline__ void fission_body(Params p) {
  constexpr int SB = fbytes(FS);
  constexpr int VEC = FS == F32 ? 4 : 8;   // values per fragment load
  constexpr int ROWB = BM * SB;            // bytes of one smem tile row (BM == BN)
  __shared__ __align__(16) unsigned char smem[2][2][BK * ROWB];  // [buf][A/B]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int tm = (warp >> 1) * 4 + (lane >> 3);
  const int tn = (warp & 1) * 8 + (lane & 7);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int nkt_all = (p.K + BK - 1) / BK;
  const int kt0 = blockIdx.z * p.kt_per_split;
  const int nkt = min(nkt_all, kt0 + p.kt_per_split);  // loop end (absolute k-tile)

  // ---- A staging: each thread moves CH bytes of the packed tile.
  constexpr int GA = fbytes(FA);
  constexpr int CH = BK * BM * GA / NT;  // 16, 8 or 4 bytes
  const int a_row = tid * CH / (BM * GA), a_col = tid * CH % (BM * GA);  // in global bytes
  const unsigned char* a_src = p.A + int64_t(a_row) * p.a_row_bytes + int64_t(m0) * GA + a_col;
  uint4 ra;
  auto load_a = [&](int kt) {
    const unsigned char* s = a_src + int64_t(kt) * BK * p.a_row_bytes;
    if constexpr (CH == 16) ra = *reinterpret_cast<const uint4*>(s);
    else if constexpr (CH == 8) { uint2 t = *reinterpret_cast<const uint2*>(s); ra.x = t.x, ra.y = t.y; }
    else ra.x = *reinterpret_cast<const uint32_t*>(s);
  };
  auto store_a = [&](unsigned char* tile) {
    if constexpr (FA == FS) {
      unsigned char* d = tile + a_row * ROWB + a_col;
      if constexpr (CH == 16) *reinterpret_cast<uint4*>(d) = ra;
      else if constexpr (CH == 8) *reinterpret_cast<uint2*>(d) = make_uint2(ra.x, ra.y);
      else *reinterpret_cast<uint32_t*>(d) = ra.x;
    } else {
      // Off-chip packing: decode to fp32 on the way into shared memory.
      static_assert(FS == F32, "format change only into fp32 tiles");
      float v[4];
      uint32_t w[2] = {ra.x, ra.y};
      unpack_words<FA>(w, v, 4);
      store4<F32>(tile + a_row * ROWB, a_col / GA, v);
    }
  };

  // ---- B staging: 4 fp32 values per thread per tile.
  float rb[4];
  int b_k, b_n;  // tile-relative
  if (!p.trans_b) b_k = tid >> 5, b_n = (tid & 31) * 4;
  else b_k = (tid >> 6) * 2, b_n = (tid & 63) * 2;
  auto load_b = [&](int kt) {
    const int k = kt * BK + b_k, n = n0 + b_n;
    if (!p.trans_b) {
      const float* s = p.B + int64_t(k) * p.ldb + n;
      if (p.vec_b && k < p.K && n + 3 < p.N) {
        float4 t = __ldg(reinterpret_cast<const float4*>(s));
        rb[0] = t.x, rb[1] = t.y, rb[2] = t.z, rb[3] = t.w;
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) rb[j] = (k < p.K && n + j < p.N) ? __ldg(s + j) : 0.f;
      }
    } else {
      // rb = {B(n, k), B(n, k+1), B(n+1, k), B(n+1, k+1)}
#pragma unroll
      for (int jn = 0; jn < 2; ++jn) {
        const float* s = p.B + int64_t(n + jn) * p.ldb + k;
        if (p.vec_b && n + jn < p.N && k + 1 < p.K) {
          float2 t = __ldg(reinterpret_cast<const float2*>(s));
          rb[2 * jn] = t.x, rb[2 * jn + 1] = t.y;
        } else {
          rb[2 * jn] = (n + jn < p.N && k < p.K) ? __ldg(s) : 0.f;
          rb[2 * jn + 1] = (n + jn < p.N && k + 1 < p.K) ? __ldg(s + 1) : 0.f;
        }
      }
    }
  };
  auto store_b = [&](unsigned char* tile) {
    if (!p.trans_b) {
      store4<FS>(tile + b_k * ROWB, b_n, rb);
    } else {
      store2<FS>(tile + b_k * ROWB, b_n, rb[0], rb[2]);
      store2<FS>(tile + (b_k + 1) * ROWB, b_n, rb[1], rb[3]);
    }
  };

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
  __half2 hacc[8][4];
  constexpr int FLUSH = 4;  // Compute16: k-tiles accumulated in half2 before adding into fp32
  if constexpr (H2) {
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) hacc[i][j] = __float2half2_rn(0.f);
  }

  if (kt0 < nkt) {
    load_a(kt0);
    load_b(kt0);
    store_a(smem[0][0]);
    store_b(smem[0][1]);
    __syncthreads();
  }

  for (int kt = kt0; kt < nkt; ++kt) {
    const int buf = (kt - kt0) & 1;
    if (kt + 1 < nkt) {
      load_a(kt + 1);
      load_b(kt + 1);
    }
    const unsigned char* As = smem[buf][0];
    const unsigned char* Bs = smem[buf][1];
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      if constexpr (H2) {
        uint4 wa = *reinterpret_cast<const uint4*>(As + k * ROWB + tm * 16);
        uint4 wb = *reinterpret_cast<const uint4*>(Bs + k * ROWB + tn * 16);
        const __half2* ha = reinterpret_cast<const __half2*>(&wa);
        const __half2* hb = reinterpret_cast<const __half2*>(&wb);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          __half2 ai = (i & 1) ? __high2half2(ha[i >> 1]) : __low2half2(ha[i >> 1]);
#pragma unroll
          for (int j = 0; j < 4; ++j) hacc[i][j] = __hfma2(ai, hb[j], hacc[i][j]);
        }
      } else {
        float a[8], b[8];
        if constexpr (FS == F32) {
          float4 a0 = *reinterpret_cast<const float4*>(As + k * ROWB + tm * 16);
          float4 a1 = *reinterpret_cast<const float4*>(As + k * ROWB + 256 + tm * 16);
          float4 b0 = *reinterpret_cast<const float4*>(Bs + k * ROWB + tn * 16);
          float4 b1 = *reinterpret_cast<const float4*>(Bs + k * ROWB + 256 + tn * 16);
          a[0] = a0.x, a[1] = a0.y, a[2] = a0.z, a[3] = a0.w, a[4] = a1.x, a[5] = a1.y, a[6] = a1.z, a[7] = a1.w;
          b[0] = b0.x, b[1] = b0.y, b[2] = b0.z, b[3] = b0.w, b[4] = b1.x, b[5] = b1.y, b[6] = b1.z, b[7] = b1.w;
        } else if constexpr (SB == 2) {
          uint4 wa = *reinterpret_cast<const uint4*>(As + k * ROWB + tm * 16);
          uint4 wb = *reinterpret_cast<const uint4*>(Bs + k * ROWB + tn * 16);
          uint32_t xa[4] = {wa.x, wa.y, wa.z, wa.w}, xb[4] = {wb.x, wb.y, wb.z, wb.w};
          unpack_words<FS>(xa, a, 8);
          unpack_words<FS>(xb, b, 8);
        } else {
          uint2 wa = *reinterpret_cast<const uint2*>(As + k * ROWB + tm * 8);
          uint2 wb = *reinterpret_cast<const uint2*>(Bs + k * ROWB + tn * 8);
          uint32_t xa[2] = {wa.x, wa.y}, xb[2] = {wb.x, wb.y};
          unpack_words<FS>(xa, a, 8);
          unpack_words<FS>(xb, b, 8);
        }
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
    if constexpr (H2) {
      if ((kt - kt0 + 1) % FLUSH == 0 || kt + 1 == nkt) {
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            float2 f = __half22float2(hacc[i][j]);
            acc[i][2 * j] += f.x, acc[i][2 * j + 1] += f.y;
            hacc[i][j] = __float2half2_rn(0.f);
          }
      }
    }
    if (kt + 1 < nkt) {
      store_a(smem[buf ^ 1][0]);
      store_b(smem[buf ^ 1][1]);
    }
    __syncthreads();
  }

  // ---- epilogue
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int m = m0 + (i / VEC) * (16 * VEC) + tm * VEC + (i % VEC);
    if (m >= p.M) continue;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int n = n0 + (j / VEC) * (16 * VEC) + tn * VEC + (j % VEC);
      if (n >= p.N) continue;
      if (p.partial) {
        p.partial[(int64_t(blockIdx.z) * p.M + m) * p.N + n] = acc[i][j];
        continue;
      }
      float* c = p.trans_c ? p.C + int64_t(n) * p.ldc + m : p.C + int64_t(m) * p.ldc + n;
      float v = p.alpha * acc[i][j];
      if (p.beta != 0.f) v = fmaf(p.beta, *c, v);
      *c = v;
    }
  }
}
template <FormatKind FAK, int FAE, FormatKind FSK, int FSE, bool H2, int MINB = 2>
__global__ void __launch_bounds__(NT, MINB) fission_kernel(Params p) {
  fission_body<Format{FAK, FAE}, Format{FSK, FSE}, H2>(p);
}

// ------------------------------------------------------ split-K reduction
// C = alpha * sum_z partial[z] + beta * C, in C's layout (trans_c, ldc).
__global__ void reduce_kernel(const float* partial, int splits, int M, int N, float* C, int64_t ldc, bool trans_c,
                              float alpha, float beta) {
  int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, mn = int64_t(M) * N;
  if (idx >= mn) return;
  float s = 0.f;
  for (int z = 0; z < splits; ++z) s += partial[z * mn + idx];
  int m = int(idx / N), n = int(idx % N);
  float* c = trans_c ? C + int64_t(n) * ldc + m : C + int64_t(m) * ldc + n;
  float v = alpha * s;
  if (beta != 0.f) v = fmaf(beta, *c, v);
  *c = v;
}

// --------------------------------------------------- small N (batch <= 16)
// Memory-bound shapes (fully connected layers at small batch): every weight is
// used N times only, so the kernel streams the packed weights from global
// memory straight into registers (2 adjacent m per thread: one 32-bit word in
// the 16-bit formats), unpacks them and multiplies with the B chunk staged
// in shared memory (rounded through the shared-memory format, as the tiled
// kernel does). Grid: (M / 256, k-splits); sums go to partial[z][m][n].
constexpr int SK_THREADS = 128, SK_KCHUNK = 64;
template <Format FA, Format FS, int NB>
__device__ __forceinline__ void skinny_body(Params p) {
  __shared__ float Bs[SK_KCHUNK][NB];
  constexpr int GA = fbytes(FA);
  const int m = (blockIdx.x * SK_THREADS + threadIdx.x) * 2;
  const int kb = blockIdx.y * p.kt_per_split * BK, ke = min(p.K, kb + p.kt_per_split * BK);
  float acc[2][NB];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < NB; ++j) acc[i][j] = 0.f;
  for (int k0 = kb; k0 < ke; k0 += SK_KCHUNK) {
    __syncthreads();
    for (int e = threadIdx.x; e < SK_KCHUNK * NB / 2; e += SK_THREADS) {
      int kk = e / (NB / 2 > 0 ? NB / 2 : 1), n = (e % (NB / 2 > 0 ? NB / 2 : 1)) * 2;
      if constexpr (NB == 1) kk = e, n = 0;
      int k = k0 + kk;
      auto bval = [&](int nn) -> float {
        if (k >= ke || nn >= p.N) return 0.f;
        return p.trans_b ? p.B[int64_t(nn) * p.ldb + k] : p.B[int64_t(k) * p.ldb + nn];
      };
      float v0 = bval(n), v1 = NB > 1 ? bval(n + 1) : 0.f;
      if constexpr (FS != F32) {
        uint32_t w = encode2<FS>(v0, v1);
        float d[4];
        uint32_t ww[1] = {w};
        if constexpr (fbytes(FS) == 2) unpack_words<FS>(ww, d, 2);
        else unpack_words<FS>(ww, d, 4);
        v0 = d[0], v1 = d[1];
      }
      Bs[kk][n] = v0;
      if constexpr (NB > 1) Bs[kk][n + 1] = v1;
    }
    if (NB == 1) {
      // e covered SK_KCHUNK / 2 rows only
      for (int e = threadIdx.x + SK_KCHUNK / 2; e < SK_KCHUNK; e += SK_THREADS) {
        int k = k0 + e;
        float v = (k < ke && 0 < p.N) ? (p.trans_b ? p.B[k] : p.B[int64_t(k) * p.ldb]) : 0.f;
        if constexpr (FS != F32) {
          uint32_t ww[1] = {encode2<FS>(v, 0.f)};
          float d[4];
          if constexpr (fbytes(FS) == 2) unpack_words<FS>(ww, d, 2);
          else unpack_words<FS>(ww, d, 4);
          v = d[0];
        }
        Bs[e][0] = v;
      }
    }
    __syncthreads();
    if (m < p.M) {
      const int kn = min(SK_KCHUNK, ke - k0);
      const unsigned char* a = p.A + int64_t(k0) * p.a_row_bytes + int64_t(m) * GA;
#pragma unroll 4
      for (int kk = 0; kk < kn; ++kk) {
        uint32_t w[1];
        float v[4];
        if constexpr (GA == 4) {
          float2 t = __ldg(reinterpret_cast<const float2*>(a + int64_t(kk) * p.a_row_bytes));
          v[0] = t.x, v[1] = t.y;
        } else if constexpr (GA == 2) {
          w[0] = __ldg(reinterpret_cast<const unsigned int*>(a + int64_t(kk) * p.a_row_bytes));
          unpack_words<FA>(w, v, 2);
        } else {
          w[0] = __ldg(reinterpret_cast<const unsigned short*>(a + int64_t(kk) * p.a_row_bytes));
          unpack_words<FA>(w, v, 4);
        }
#pragma unroll
        for (int j = 0; j < NB; ++j) {
          acc[0][j] = fmaf(v[0], Bs[kk][j], acc[0][j]);
          acc[1][j] = fmaf(v[1], Bs[kk][j], acc[1][j]);
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
    if (m + i < p.M)
#pragma unroll
      for (int j = 0; j < NB; ++j)
        if (j < p.N) p.partial[(int64_t(blockIdx.y) * p.M + m + i) * p.N + j] = acc[i][j];
}
template <FormatKind FAK, int FAE, FormatKind FSK, int FSE, int NB>
__global__ void __launch_bounds__(SK_THREADS) skinny_kernel(Params p) {
  skinny_body<Format{FAK, FAE}, Format{FSK, FSE}, NB>(p);
}

// ----------------------------------------------------- on-the-fly packing
// One thread per (k, m pair) of the packed layout; same bytes as pack_host
// with Rounding::Nearest.
template <FormatKind FK, int FE>
__global__ void pack_kernel(const float* A, int64_t lda, int M, int K, int mp, int kp, unsigned char* out,
                            int64_t row_bytes) {
  constexpr Format F{FK, FE};  // no lambda below: F stays a constant
  int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t pairs = int64_t(mp / 2) * kp;
  if (idx >= pairs) return;
  int k = int(idx / (mp / 2)), m = int(idx % (mp / 2)) * 2;
  float v0 = (m < M && k < K) ? A[int64_t(m) * lda + k] : 0.f;
  float v1 = (m + 1 < M && k < K) ? A[int64_t(m + 1) * lda + k] : 0.f;
  store2<F>(out + int64_t(k) * row_bytes, m, v0, v1);
}

template <Format F>
void launch_pack(const float* A, int64_t lda, int M, int K, unsigned char* out, cudaStream_t s) {
  int mp = int(packed_mp(M)), kp = int(packed_kp(K));
  int64_t pairs = int64_t(mp / 2) * kp;
  if (pairs == 0) return;
  pack_kernel<DEFTNN_FK_FORMAT_ARGS(F)><<<unsigned((pairs + 255) / 256), 256, 0, s>>>(A, lda, M, K, mp, kp, out,
                                                                int64_t(mp) * fbytes(F));
  DEFTNN_CUDA_CHECK_LAUNCH();
}

int sm_count() {
  static int sms = [] {
    int dev = 0, n = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
    return n > 0 ? n : 132;
  }();
  return sms;
}

// Picks the k-split minimising waves / splits for `blocks` tiles (2 blocks
// per SM), with at least 4 k-tiles per split and a small cost per extra split.
int choose_splits(int64_t blocks, int nkt, int max_splits, int per_sm) {
  const double slots = double(sm_count()) * per_sm;
  int best = 1;
  double best_cost = 1e30;
  // Only grids of at most two waves are split: beyond that the tail wave is a
  // small loss and the partial sums' traffic a large one (conv2 at b=128:
  // 0.83 ms split 5 ways, 0.74 ms unsplit; docs/fission.md, "Lab notes").
  if (double(blocks) > 2 * slots) return 1;
  for (int s = 1; s <= max_splits && (s == 1 || nkt / s >= 4); ++s) {
    double waves = std::ceil(double(blocks) * s / slots);
    double cost = waves / s * (1.0 + 0.04 * (s > 1)) ;
    if (cost < best_cost - 1e-9) best_cost = cost, best = s;
  }
  return best;
}

template <Format FA, Format FS, bool H2>
void launch(float* partial_base, Params p, cudaStream_t s) {
  const int nkt = (p.K + BK - 1) / BK;
  const float* reduce_src = nullptr;
  int splits = 1;
  if (!H2 && p.N <= 16 && nkt > 0) {
    // small N: stream the weights, split K so that every SM has work
    const int64_t blocks = (p.M + 2 * SK_THREADS - 1) / (2 * SK_THREADS);
    splits = int(std::max<int64_t>(1, std::min<int64_t>(nkt, (sm_count() * 8 + blocks - 1) / blocks)));
    p.kt_per_split = (nkt + splits - 1) / splits;
    splits = (nkt + p.kt_per_split - 1) / p.kt_per_split;
    p.partial = partial_base;
    const dim3 grid{unsigned(blocks), unsigned(splits), 1u};
    auto go = [&]<int NB>() { skinny_kernel<DEFTNN_FK_FORMAT_ARGS(FA), DEFTNN_FK_FORMAT_ARGS((FA == FS ? FA : F32)), NB><<<grid, SK_THREADS, 0, s>>>(p); };
    if (p.N <= 1) go.template operator()<1>();
    else if (p.N <= 2) go.template operator()<2>();
    else if (p.N <= 4) go.template operator()<4>();
    else if (p.N <= 8) go.template operator()<8>();
    else go.template operator()<16>();
    DEFTNN_CUDA_CHECK_LAUNCH();
    reduce_src = p.partial;
  } else {
    dim3 grid(unsigned((p.N + BN - 1) / BN), unsigned((p.M + BM - 1) / BM), 1);
    int64_t blocks = int64_t(grid.x) * grid.y;
    int max_s = int(std::min<int64_t>(16, (int64_t(256) << 20) / (int64_t(p.M) * p.N * 4 + 1)));
    // Lab switches (docs/fission.md, "Lab notes"): DEFTNN_FISSION_NOSPLIT=1 disables
    // split-K, DEFTNN_FISSION_MINB1=1 runs the fp32 kernel built for 1 block/SM.
    static const bool nosplit = std::getenv("DEFTNN_FISSION_NOSPLIT") != nullptr;
    static const bool minb1 = std::getenv("DEFTNN_FISSION_MINB1") != nullptr;
    const bool use_minb1 = minb1 && FA == F32 && FS == F32 && !H2;
    splits = nkt > 0 && !nosplit ? choose_splits(blocks, nkt, std::max(1, max_s), use_minb1 ? 1 : 2) : 1;
    p.kt_per_split = splits > 1 ? (nkt + splits - 1) / splits : std::max(nkt, 1);
    if (splits > 1) {
      splits = (nkt + p.kt_per_split - 1) / p.kt_per_split;
      p.partial = partial_base;
      reduce_src = p.partial;
    } else {
      p.partial = nullptr;
    }
    grid.z = unsigned(splits);
    if constexpr (FA == F32 && FS == F32 && !H2) {
      if (use_minb1) fission_kernel<DEFTNN_FK_FORMAT_ARGS(F32), DEFTNN_FK_FORMAT_ARGS(F32), false, 1><<<grid, NT, 0, s>>>(p);
      else fission_kernel<DEFTNN_FK_FORMAT_ARGS(FA), DEFTNN_FK_FORMAT_ARGS(FS), H2><<<grid, NT, 0, s>>>(p);
    } else {
      fission_kernel<DEFTNN_FK_FORMAT_ARGS(FA), DEFTNN_FK_FORMAT_ARGS(FS), H2><<<grid, NT, 0, s>>>(p);
    }
    DEFTNN_CUDA_CHECK_LAUNCH();
  }
  if (reduce_src) {
    int64_t mn = int64_t(p.M) * p.N;
    reduce_kernel<<<unsigned((mn + 255) / 256), 256, 0, s>>>(reduce_src, splits, p.M, p.N, p.C, p.ldc, p.trans_c,
                                                             p.alpha, p.beta);
    DEFTNN_CUDA_CHECK_LAUNCH();
  }
}

// Calls fn.template operator()<F>() for the runtime format f.
template <class Fn>
void dispatch_format(const Format& f, Fn&& fn) {
  switch (f.kind) {
    case FormatKind::FP32: fn.template operator()<F32>(); return;
    case FormatKind::Half: fn.template operator()<F16>(); return;
    case FormatKind::Deft16: fn.template operator()<D16>(); return;
    case FormatKind::Deft16Q: fn.template operator()<D16Q>(); return;
    case FormatKind::FP8E4M3: fn.template operator()<E4M3>(); return;
    case FormatKind::FP8E5M2: fn.template operator()<E5M2>(); return;
    case FormatKind::Deft8:
      switch (f.exp_bits) {
        case 1: fn.template operator()<Format{FormatKind::Deft8, 1}>(); return;
        case 2: fn.template operator()<Format{FormatKind::Deft8, 2}>(); return;
        case 3: fn.template operator()<Format{FormatKind::Deft8, 3}>(); return;
        case 4: fn.template operator()<Format{FormatKind::Deft8, 4}>(); return;
        case 5: fn.template operator()<Format{FormatKind::Deft8, 5}>(); return;
        case 6: fn.template operator()<Format{FormatKind::Deft8, 6}>(); return;
        case 7: fn.template operator()<Format{FormatKind::Deft8, 7}>(); return;
      }
      break;
  }
  DEFTNN_FAIL("fission: no kernel for format {} (exponent bits {})", f.name(), f.exp_bits);
}

}  // namespace fk

void fission_pack_device(Context& ctx, const float* A, int64_t lda, int64_t M, int64_t K, const Format& f,
                         void* out) {
  fk::dispatch_format(f, [&]<Format F>() {
    fk::launch_pack<F>(A, lda, int(M), int(K), static_cast<unsigned char*>(out), ctx.stream());
  });
}

void fission_gemm(Context& ctx, const GemmArgs& a, const GemmPlan& plan) {
  DEFTNN_CHECK(!a.trans_a, "fission GEMM does not take a transposed A (weights are packed (M, K)); pack A first");
  DEFTNN_CHECK(ctx.is_cuda(), "fission GEMM needs a CUDA context");
  DEFTNN_CHECK(a.M < (1 << 30) && a.N < (1 << 30) && a.K < (1 << 30), "fission GEMM: sizes over 2^30");
  if (a.M == 0 || a.N == 0) return;
  const Format f = placement_format(plan.format, plan.placement);
  // One workspace request: [packed A (when packing on the fly)][split-K partial sums].
  const size_t pack_bytes =
      a.packed_a || a.K == 0 ? 0 : (size_t(packed_kp(a.K) * packed_row_bytes(f, a.M)) + 255) / 256 * 256;
  const int64_t nkt = (a.K + fk::BK - 1) / fk::BK;
  const int64_t max_splits = a.N <= 16 ? std::min<int64_t>(std::max<int64_t>(nkt, 1), fk::sm_count() * 8) : 16;
  const size_t partial_bytes = size_t(max_splits) * size_t(a.M) * size_t(a.N) * sizeof(float);
  char* ws = static_cast<char*>(ctx.workspace(pack_bytes + partial_bytes + 256, Context::Scratch::Gemm));
  float* partial_base = reinterpret_cast<float*>(ws + pack_bytes);
  const unsigned char* A = nullptr;
  if (a.packed_a) {
    const PackedMatrix& pm = *a.packed_a;
    DEFTNN_CHECK(pm.format == f && pm.rows == a.M && pm.cols == a.K,
                 "packed A is {} ({}, {}), the call wants {} ({}, {})", pm.format.name(), pm.rows, pm.cols, f.name(),
                 a.M, a.K);
    DEFTNN_CHECK(pm.data.is_cuda(), "packed A must live on the GPU");
    A = static_cast<const unsigned char*>(pm.data.raw());
  } else if (a.K > 0) {
    fission_pack_device(ctx, a.A, a.lda, a.M, a.K, f, ws);
    A = reinterpret_cast<const unsigned char*>(ws);
  }
  fk::Params p;
  p.M = int(a.M), p.N = int(a.N), p.K = int(a.K);
  p.A = A;
  p.a_row_bytes = packed_row_bytes(f, a.M);
  p.B = a.B, p.ldb = a.ldb, p.C = a.C, p.ldc = a.ldc;
  p.alpha = a.alpha, p.beta = a.beta;
  p.trans_b = a.trans_b, p.trans_c = a.trans_c;
  const uintptr_t bp = reinterpret_cast<uintptr_t>(a.B);
  p.vec_b = a.trans_b ? (a.ldb % 2 == 0 && bp % 8 == 0) : (a.ldb % 4 == 0 && bp % 16 == 0);
  cudaStream_t s = ctx.stream();
  switch (plan.placement) {
    case FissionPlacement::Compute16: fk::launch<fk::F16, fk::F16, true>(partial_base, p, s); return;
    case FissionPlacement::OnChip:
      fk::dispatch_format(f, [&]<Format F>() { fk::launch<F, F, false>(partial_base, p, s); });
      return;
    case FissionPlacement::OffChip:
      fk::dispatch_format(f, [&]<Format F>() { fk::launch<F, fk::F32, false>(partial_base, p, s); });
      return;
  }
}

}  // namespace deftnn
