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

#include "core/cuda_check.h"
#include "formats/codec.h"
#include "gemm/backends.h"
#include "gemm/fission_kernels.h"
#include "gemm/pack.h"

namespace deftnn {
namespace fk {

// Format ids used as template arguments.
enum : int { F32 = 0, F16 = 1, D16 = 2, D16Q = 3, D8_1 = 4, D8_7 = 10, E4M3 = 11, E5M2 = 12 };
__host__ __device__ constexpr int fbytes(int f) { return f == F32 ? 4 : (f <= D16Q ? 2 : 1); }
__host__ __device__ constexpr bool is_d8(int f) { return f >= D8_1 && f <= D8_7; }
__host__ __device__ constexpr int d8e(int f) { return f - D8_1 + 1; }

constexpr int BM = 128, BN = 128, BK = 8, NT = 256;

// ------------------------------------------------------------ unpacking
// Decodes n consecutive values (n = 4 or 8) held in 32-bit words w.
template <int F>
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
    constexpr __nv_fp8_interpretation_t kind = F == E4M3 ? __NV_E4M3 : __NV_E5M2;
    for (int i = 0; i < n / 4; ++i) {
      __half2_raw lo = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(w[i] & 0xffffu), kind);
      __half2_raw hi = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(w[i] >> 16), kind);
      float2 a = __half22float2(__half2(lo)), b = __half22float2(__half2(hi));
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
  const float s = __uint_as_float(uint32_t(B) << 23);  // 2^(B-127)
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
template <int F>
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
    return uint32_t(__nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, F == E4M3 ? __NV_E4M3 : __NV_E5M2));
  } else {
    return 0;  // F32 stores floats directly
  }
}

// Stores 4 (or 2) consecutive values at element index idx of a smem row of format F.
template <int F>
__device__ __forceinline__ void store4(unsigned char* row, int idx, const float* v) {
  if constexpr (F == F32) {
    *reinterpret_cast<float4*>(row + idx * 4) = make_float4(v[0], v[1], v[2], v[3]);
  } else if constexpr (fbytes(F) == 2) {
    *reinterpret_cast<uint2*>(row + idx * 2) = make_uint2(encode2<F>(v[0], v[1]), encode2<F>(v[2], v[3]));
  } else {
    *reinterpret_cast<uint32_t*>(row + idx) = encode2<F>(v[0], v[1]) | (encode2<F>(v[2], v[3]) << 16);
  }
}
template <int F>
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
};

// FA: format of A in global memory; FS: format of both tiles in shared memory;
// H2: half2 FMA (Compute16, FS == F16).
template <int FA, int FS, bool H2>
__global__ void __launch_bounds__(NT, 2) fission_kernel(Params p) {
  constexpr int SB = fbytes(FS);
  constexpr int VEC = FS == F32 ? 4 : 8;   // values per fragment load
  constexpr int ROWB = BM * SB;            // bytes of one smem tile row (BM == BN)
  __shared__ __align__(16) unsigned char smem[2][2][BK * ROWB];  // [buf][A/B]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int tm = (warp >> 1) * 4 + (lane >> 3);
  const int tn = (warp & 1) * 8 + (lane & 7);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int nkt = (p.K + BK - 1) / BK;

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

  if (nkt > 0) {
    load_a(0);
    load_b(0);
    store_a(smem[0][0]);
    store_b(smem[0][1]);
    __syncthreads();
  }

  for (int kt = 0; kt < nkt; ++kt) {
    const int buf = kt & 1;
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
      if ((kt + 1) % FLUSH == 0 || kt + 1 == nkt) {
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
      float* c = p.trans_c ? p.C + int64_t(n) * p.ldc + m : p.C + int64_t(m) * p.ldc + n;
      float v = p.alpha * acc[i][j];
      if (p.beta != 0.f) v = fmaf(p.beta, *c, v);
      *c = v;
    }
  }
}

// ----------------------------------------------------- on-the-fly packing
// One thread per (k, m pair) of the packed layout; same bytes as pack_host
// with Rounding::Nearest.
template <int F>
__global__ void pack_kernel(const float* A, int64_t lda, int M, int K, int mp, int kp, unsigned char* out,
                            int64_t row_bytes) {
  int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t pairs = int64_t(mp / 2) * kp;
  if (idx >= pairs) return;
  int k = int(idx / (mp / 2)), m = int(idx % (mp / 2)) * 2;
  float v0 = (m < M && k < K) ? A[int64_t(m) * lda + k] : 0.f;
  float v1 = (m + 1 < M && k < K) ? A[int64_t(m + 1) * lda + k] : 0.f;
  store2<F>(out + int64_t(k) * row_bytes, m, v0, v1);
}

int format_id(const Format& f) {
  switch (f.kind) {
    case FormatKind::FP32: return F32;
    case FormatKind::Half: return F16;
    case FormatKind::Deft16: return D16;
    case FormatKind::Deft16Q: return D16Q;
    case FormatKind::Deft8: return D8_1 + f.exp_bits - 1;
    case FormatKind::FP8E4M3: return E4M3;
    case FormatKind::FP8E5M2: return E5M2;
  }
  return -1;
}

template <int F>
void launch_pack(const float* A, int64_t lda, int M, int K, unsigned char* out, cudaStream_t s) {
  int mp = int(packed_mp(M)), kp = int(packed_kp(K));
  int64_t pairs = int64_t(mp / 2) * kp;
  if (pairs == 0) return;
  pack_kernel<F><<<unsigned((pairs + 255) / 256), 256, 0, s>>>(A, lda, M, K, mp, kp, out,
                                                                int64_t(mp) * fbytes(F));
  DEFTNN_CUDA_CHECK_LAUNCH();
}

template <int FA, int FS, bool H2>
void launch(const Params& p, cudaStream_t s) {
  dim3 grid(unsigned((p.N + BN - 1) / BN), unsigned((p.M + BM - 1) / BM));
  fission_kernel<FA, FS, H2><<<grid, NT, 0, s>>>(p);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

// Calls f.template operator()<ID>() for the runtime format id.
template <class Fn>
void dispatch_format(int id, Fn&& fn) {
  switch (id) {
    case F32: fn.template operator()<F32>(); return;
    case F16: fn.template operator()<F16>(); return;
    case D16: fn.template operator()<D16>(); return;
    case D16Q: fn.template operator()<D16Q>(); return;
    case D8_1 + 0: fn.template operator()<D8_1 + 0>(); return;
    case D8_1 + 1: fn.template operator()<D8_1 + 1>(); return;
    case D8_1 + 2: fn.template operator()<D8_1 + 2>(); return;
    case D8_1 + 3: fn.template operator()<D8_1 + 3>(); return;
    case D8_1 + 4: fn.template operator()<D8_1 + 4>(); return;
    case D8_1 + 5: fn.template operator()<D8_1 + 5>(); return;
    case D8_1 + 6: fn.template operator()<D8_1 + 6>(); return;
    case E4M3: fn.template operator()<E4M3>(); return;
    case E5M2: fn.template operator()<E5M2>(); return;
  }
  DEFTNN_FAIL("fission: unknown format id {}", id);
}

}  // namespace fk

void fission_pack_device(Context& ctx, const float* A, int64_t lda, int64_t M, int64_t K, const Format& f,
                         void* out) {
  fk::dispatch_format(fk::format_id(f), [&]<int F>() {
    fk::launch_pack<F>(A, lda, int(M), int(K), static_cast<unsigned char*>(out), ctx.stream());
  });
}

void fission_gemm(Context& ctx, const GemmArgs& a, const GemmConfig& config) {
  DEFTNN_CHECK(!a.trans_a, "fission GEMM does not take a transposed A (weights are packed (M, K)); pack A first");
  DEFTNN_CHECK(ctx.is_cuda(), "fission GEMM needs a CUDA context");
  DEFTNN_CHECK(a.M < (1 << 30) && a.N < (1 << 30) && a.K < (1 << 30), "fission GEMM: sizes over 2^30");
  if (a.M == 0 || a.N == 0) return;
  const Format f = placement_format(config.format, config.placement);
  const unsigned char* A = nullptr;
  if (a.packed_a) {
    const PackedMatrix& pm = *a.packed_a;
    DEFTNN_CHECK(pm.format == f && pm.rows == a.M && pm.cols == a.K,
                 "packed A is {} ({}, {}), the call wants {} ({}, {})", pm.format.name(), pm.rows, pm.cols, f.name(),
                 a.M, a.K);
    DEFTNN_CHECK(pm.data.is_cuda(), "packed A must live on the GPU");
    A = static_cast<const unsigned char*>(pm.data.raw());
  } else if (a.K > 0) {
    size_t bytes = size_t(packed_kp(a.K) * packed_row_bytes(f, a.M));
    void* ws = ctx.workspace(bytes);
    fission_pack_device(ctx, a.A, a.lda, a.M, a.K, f, ws);
    A = static_cast<const unsigned char*>(ws);
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
  const int id = fk::format_id(f);
  switch (config.placement) {
    case FissionPlacement::Compute16: fk::launch<fk::F16, fk::F16, true>(p, s); return;
    case FissionPlacement::OnChip:
      fk::dispatch_format(id, [&]<int F>() { fk::launch<F, F, false>(p, s); });
      return;
    case FissionPlacement::OffChip:
      fk::dispatch_format(id, [&]<int F>() { fk::launch<F, fk::F32, false>(p, s); });
      return;
  }
}

}  // namespace deftnn
