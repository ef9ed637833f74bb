// Mixed-input GEMM kernels (gemm/mixed/mixed_gemm.h): Y (M, N) = X (M, K) bf16
// * dec(W)^T with W packed in a narrow format (gemm/mixed/mixed_layout.h).
//
// Thread block: 4 warps; warp w owns kNT = 2 n8-tiles (16 output channels), a
// block 64 (= kPadN). Grid: x = n-ranges of 64, y = k-splits, z = blocks of
// 16 * MB tokens (MB = 1, 2 or 4 m16 MMA row blocks per thread block).
// Per stage a lane issues kNT * kU 128-bit ld.global.nc of weights (one whole
// 512-byte chunk per warp and load) for the stage after the one it computes,
// so two stages of loads are in flight per lane. Activations: a slab of
// 16 * MB rows x (1024 / MB) k, bf16, staged once in shared memory (rows
// padded by 16 bytes so ldmatrix is conflict-free), read with ldmatrix.x4 as
// the A fragments; the unpacked weights are the B fragments of
// mma.sync.m16n8k16.row.col.f32.bf16.bf16.f32, reused for all MB row blocks.
// 4-bit formats: one chunk = one group of 128 k; its MMAs accumulate into a
// fresh fp32 fragment that is scaled and added to the total. 8-bit formats:
// per-channel scales in the epilogue. Split-K: Y zeroed, partial sums added
// with fp32 atomics (red.global.add.f32).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/cuda_check.h"
#include "core/env.h"
#include "core/error.h"
#include "gemm/mixed/mixed_gemm.h"
#include "gemm/mixed/mixed_kernel_plan.h"
#include "gemm/mixed/mixed_layout.h"

namespace deftnn::mixed {
namespace {

struct Params {
  const uint4* w;        // packed chunks
  const float* scales;   // per channel [np] or per group [kp / 128][np]
  const uint16_t* x;     // bf16 (M, K), row stride ldx
  float* y;              // fp32 (M, N), row stride ldy
  int M, N, K, ldx, ldy, np, kcs;  // kcs: chunks per n-tile (kp / chunk_k)
  int chunks_per_split;
  int atomic;            // 1: add into y (split-K without workspace), 0: store
  float* partials;       // split-K with workspace: [tile][split][thread][MB * kNT * 4]
  int* counters;         // [tile]: splits arrived
};

__device__ __forceinline__ uint4 ldg_stream(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&a)[4], const uint16_t* smem) {
  const uint32_t addr = uint32_t(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3]) : "r"(addr));
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t word_of(const uint4& v, int j) {
  return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

// X rows [m0, min(M, m0 + 16 MB)) x k [k0, k0 + slab_k) into shared memory,
// zero past K. Rows at or past M are left as they are: an MMA row only
// reaches its own output row, and the epilogue stores no row past M (at one
// token this skips 15 of the 16 rows' shared-memory stores).
template <int MB>
__device__ __forceinline__ void stage_x(uint16_t* xs, const Params& p, int m0, int k0) {
  constexpr int SK = slab_k(MB), LDS = slab_lds(MB), VPR = SK / 8;  // 16-byte vectors per row
  const int live_rows = min(16 * MB, p.M - m0);
  for (int i = threadIdx.x; i < live_rows * VPR; i += kThreads) {
    const int r = i / VPR, c = (i % VPR) * 8, m = m0 + r, k = k0 + c;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (m < p.M && k < p.K) {
      const uint16_t* src = p.x + int64_t(m) * p.ldx + k;
      if (k + 8 <= p.K) {
        v = *reinterpret_cast<const uint4*>(src);
      } else {
        uint16_t e[8];
#pragma unroll
        for (int q = 0; q < 8; ++q) e[q] = k + q < p.K ? src[q] : uint16_t(0);
        v = make_uint4(e[0] | (uint32_t(e[1]) << 16), e[2] | (uint32_t(e[3]) << 16), e[4] | (uint32_t(e[5]) << 16),
                       e[6] | (uint32_t(e[7]) << 16));
      }
    }
    *reinterpret_cast<uint4*>(xs + r * LDS + c) = v;
  }
}

template <class U, int MB>
__global__ void __launch_bounds__(kThreads) mixed_gemm_kernel(const Params p) {
  constexpr int CK = chunk_k(U::kBits);               // k per chunk: 64 or 128
  constexpr int SPW = U::kBits == 8 ? 1 : 2;           // k16 steps per packed word
  constexpr bool kGrouped = U::kBits == 4;             // one scale per chunk (= group of 128)
  constexpr int SK = slab_k(MB), LDS = slab_lds(MB);   // staged X: (16 MB, SK), row stride LDS
  constexpr int CPS = SK / CK;                         // chunks per slab
  static_assert(CPS % kU == 0, "a stage never straddles two X slabs");
  extern __shared__ uint4 smem_raw[];
  uint16_t* xs = reinterpret_cast<uint16_t*>(smem_raw);  // (16 MB, LDS) bf16

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int tile0 = warp_tile0(blockIdx.x, warp);  // first n8 tile of this warp
  const int m0 = blockIdx.z * 16 * MB;
  const int kc_begin = blockIdx.y * p.chunks_per_split;
  const int kc_end = min(p.kcs, kc_begin + p.chunks_per_split);

  float acc[MB][kNT][4];
#pragma unroll
  for (int mb = 0; mb < MB; ++mb)
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[mb][nt][i] = 0.f;

  uint4 cur[kNT][kU];
  float2 cur_s[kNT][kU];
  auto load_stage = [&](uint4 (&v)[kNT][kU], float2 (&s)[kNT][kU], int kc) {
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        if (kc + u < kc_end) {
          v[nt][u] = ldg_stream(p.w + chunk_uint4(tile0 + nt, p.kcs, kc + u, lane));
          if constexpr (kGrouped)
            s[nt][u] = __ldg(reinterpret_cast<const float2*>(p.scales + group_scale_index(kc + u, p.np, tile0 + nt, lane)));
        }
      }
  };
  if (kc_begin < kc_end) load_stage(cur, cur_s, kc_begin);

  for (int kc = kc_begin; kc < kc_end; kc += kU) {
    uint4 nxt[kNT][kU];
    float2 nxt_s[kNT][kU];
    if (kc + kU < kc_end) load_stage(nxt, nxt_s, kc + kU);
    const int in_slab = (kc - kc_begin) % CPS;
    if (in_slab == 0) {
      __syncthreads();  // everyone is done with the previous slab
      stage_x<MB>(xs, p, m0, kc * CK);
      __syncthreads();
    }
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      if (kc + u >= kc_end) break;
      float gacc[MB][kNT][4];
      float (&dst)[MB][kNT][4] = kGrouped ? gacc : acc;
      if constexpr (kGrouped) {
#pragma unroll
        for (int mb = 0; mb < MB; ++mb)
#pragma unroll
          for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
            for (int i = 0; i < 4; ++i) gacc[mb][nt][i] = 0.f;
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        uint32_t b[kNT][2 * SPW];
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) U::word(word_of(cur[nt][u], j), b[nt]);
#pragma unroll
        for (int s = 0; s < SPW; ++s) {
          const int kk = step_k_in_slab(in_slab, u, j, s, CK, SPW);  // k of this step inside the slab
#pragma unroll
          for (int mb = 0; mb < MB; ++mb) {
            uint32_t a[4];
            ldmatrix_x4(a, xs + a_lds_offset(mb, lane, kk, LDS));
#pragma unroll
            for (int nt = 0; nt < kNT; ++nt) mma_bf16(dst[mb][nt], a, b[nt][2 * s], b[nt][2 * s + 1]);
          }
        }
      }
      if constexpr (kGrouped) {
#pragma unroll
        for (int mb = 0; mb < MB; ++mb)
#pragma unroll
          for (int nt = 0; nt < kNT; ++nt) {
            const float2 sc = cur_s[nt][u];
            acc[mb][nt][0] = fmaf(gacc[mb][nt][0], sc.x, acc[mb][nt][0]);
            acc[mb][nt][1] = fmaf(gacc[mb][nt][1], sc.y, acc[mb][nt][1]);
            acc[mb][nt][2] = fmaf(gacc[mb][nt][2], sc.x, acc[mb][nt][2]);
            acc[mb][nt][3] = fmaf(gacc[mb][nt][3], sc.y, acc[mb][nt][3]);
          }
      }
    }
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
      for (int u = 0; u < kU; ++u) cur[nt][u] = nxt[nt][u], cur_s[nt][u] = nxt_s[nt][u];
  }

  if (p.partials) {
    // Serial split-K: store this split's partial sums, count the arrival;
    // the last split of the tile adds all of them in split order.
    __shared__ int s_last;
    const int tile_id = blockIdx.z * gridDim.x + blockIdx.x;
    float4* mine = reinterpret_cast<float4*>(p.partials) +
                   ((int64_t(tile_id) * gridDim.y + blockIdx.y) * kThreads + threadIdx.x) * (MB * kNT);
#pragma unroll
    for (int mb = 0; mb < MB; ++mb)
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt)
        mine[mb * kNT + nt] = make_float4(acc[mb][nt][0], acc[mb][nt][1], acc[mb][nt][2], acc[mb][nt][3]);
    __threadfence();  // the partials are visible before the count
    __syncthreads();
    if (threadIdx.x == 0) s_last = atomicAdd(p.counters + tile_id, 1) == int(gridDim.y) - 1;
    __syncthreads();
    if (!s_last) return;
    __threadfence();  // the other splits' partials are read after their counts
#pragma unroll
    for (int mb = 0; mb < MB; ++mb)
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[mb][nt][i] = 0.f;
    for (int sp = 0; sp < int(gridDim.y); ++sp) {
      const float4* src = reinterpret_cast<const float4*>(p.partials) +
                          ((int64_t(tile_id) * gridDim.y + sp) * kThreads + threadIdx.x) * (MB * kNT);
#pragma unroll
      for (int mb = 0; mb < MB; ++mb)
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
          const float4 v = __ldcg(src + mb * kNT + nt);  // L2: written by other blocks
          acc[mb][nt][0] += v.x, acc[mb][nt][1] += v.y, acc[mb][nt][2] += v.z, acc[mb][nt][3] += v.w;
        }
    }
    if (threadIdx.x == 0) p.counters[tile_id] = 0;  // ready for the next call
  }

  // epilogue: C fragment c0, c1 = (row g, cols 2t, 2t+1), c2, c3 = (row g + 8, same cols)
#pragma unroll
  for (int nt = 0; nt < kNT; ++nt) {
    const int n = (tile0 + nt) * kTileN + 2 * t;
    float2 sc = make_float2(1.f, 1.f);
    if constexpr (!kGrouped) sc = __ldg(reinterpret_cast<const float2*>(p.scales + n));
#pragma unroll
    for (int mb = 0; mb < MB; ++mb)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int m = m0 + mb * 16 + g + 8 * h;
        if (m >= p.M) continue;
        float* yr = p.y + int64_t(m) * p.ldy;
        const float v0 = acc[mb][nt][2 * h] * sc.x, v1 = acc[mb][nt][2 * h + 1] * sc.y;
        if (p.atomic) {
          if (n + 1 < p.N && (reinterpret_cast<uintptr_t>(yr + n) & 7u) == 0) {
            atomicAdd(reinterpret_cast<float2*>(yr + n), make_float2(v0, v1));  // one 8-byte red (sm_90)
          } else {
            if (n < p.N) atomicAdd(yr + n, v0);
            if (n + 1 < p.N) atomicAdd(yr + n + 1, v1);
          }
        } else {
          if (n < p.N) yr[n] = v0;
          if (n + 1 < p.N) yr[n + 1] = v1;
        }
      }
  }
}

template <class U>
__global__ void unpack_probe_kernel(const uint32_t* words, int64_t n, uint32_t* out) {
  constexpr int R = U::kBits == 8 ? 2 : 4;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  uint32_t b[4];
  U::word(words[i], b);
#pragma unroll
  for (int r = 0; r < R; ++r) out[i * R + r] = b[r];
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

// The split-K target of thread blocks per SM for M tokens: 2 up to 8 tokens,
// kBlocksPerSmTarget above (a sweep on the H100, int4 on the Llama-7B shapes,
// bench/results/tensorcore-h100-20261207b: at one token 2 beat 4 by 7-13% on
// all three shapes; at 16 tokens 4 won on the two wide ones). Lab switch:
// DEFTNN_MIXED_BLOCKS_PER_SM=<n> (read once) sets it for every M.
int blocks_per_sm_target(int64_t M) {
  static const int n = int(env_int("DEFTNN_MIXED_BLOCKS_PER_SM", 0, 0, 64));
  return n > 0 ? n : M <= 8 ? 2 : kBlocksPerSmTarget;
}

MixedLaunch launch_shape(const MixedGemmArgs& a) {
  return plan_mixed_launch(a.M, a.W->np, a.W->kp, a.W->format.bits(), a.split_k, sm_count(), blocks_per_sm_target(a.M));
}
// Partial-sum floats of the serial split-K for a launch.
int64_t workspace_floats(const MixedLaunch& s) {
  return s.nblocks * s.mblocks * s.splits * kThreads * s.mb * kNT * 4;
}

template <class U, int MB>
void launch_mb(const Params& p, dim3 grid, cudaStream_t st) {
  mixed_gemm_kernel<U, MB><<<grid, kThreads, slab_bytes(MB), st>>>(p);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

template <class U>
void launch(const Params& p, const MixedLaunch& s, cudaStream_t st) {
  const dim3 grid(unsigned(s.nblocks), unsigned(s.splits), unsigned(s.mblocks));
  if (s.mb == 1) launch_mb<U, 1>(p, grid, st);
  else if (s.mb == 2) launch_mb<U, 2>(p, grid, st);
  else launch_mb<U, 4>(p, grid, st);
}

// Calls fn.template operator()<U>() with the unpack functor of format f.
template <class Fn>
void dispatch(const WeightFormat& f, Fn&& fn) {
  switch (f.kind) {
    case WeightKind::Int8: return fn.template operator()<UnpackInt8>();
    case WeightKind::FP8E4M3: return fn.template operator()<UnpackE4M3>();
    case WeightKind::Int4: return fn.template operator()<UnpackInt4>();
    case WeightKind::FP4E2M1: return fn.template operator()<UnpackE2M1>();
    case WeightKind::Deft8:
      switch (f.exp_bits) {
        case 1: return fn.template operator()<UnpackDeft8<1>>();
        case 2: return fn.template operator()<UnpackDeft8<2>>();
        case 3: return fn.template operator()<UnpackDeft8<3>>();
        case 4: return fn.template operator()<UnpackDeft8<4>>();
        case 5: return fn.template operator()<UnpackDeft8<5>>();
        case 6: return fn.template operator()<UnpackDeft8<6>>();
        case 7: return fn.template operator()<UnpackDeft8<7>>();
      }
  }
  DEFTNN_FAIL("mixed_gemm: no kernel for format {}", f.name());
}

}  // namespace

int mixed_gemm_splits(const MixedGemmArgs& a) {
  const std::string why = mixed_gemm_can_implement(a);
  DEFTNN_CHECK(why.empty(), "{}", why);
  return launch_shape(a).splits;
}

void mixed_gemm(Context& ctx, const MixedGemmArgs& a) {
  const std::string why = mixed_gemm_can_implement(a);
  DEFTNN_CHECK(why.empty(), "{}", why);
  const DeviceWeights& w = *a.W;
  if (a.M == 0 || w.n == 0) return;
  const int64_t ldy = a.ldy ? a.ldy : w.n;
  cudaStream_t st = ctx.stream();
  if (w.k == 0) {
    DEFTNN_CUDA_CHECK(cudaMemset2DAsync(a.Y, size_t(ldy) * 4, 0, size_t(w.n) * 4, size_t(a.M), st));
    return;
  }
  const MixedLaunch s = launch_shape(a);
  Params p{};
  p.w = static_cast<const uint4*>(w.bytes.raw());
  p.scales = w.scales.data<float>();
  p.x = static_cast<const uint16_t*>(a.X);
  p.y = a.Y;
  p.M = int(a.M), p.N = int(w.n), p.K = int(w.k);
  p.ldx = int(a.ldx ? a.ldx : w.k), p.ldy = int(ldy);
  p.np = int(w.np);
  p.kcs = int(w.kp / chunk_k(w.format.bits()));
  p.chunks_per_split = s.chunks_per_split;
  if (s.atomic() && a.workspace) {
    const int64_t need = workspace_floats(s), tiles = s.nblocks * s.mblocks;
    DEFTNN_CHECK(a.workspace->partials.defined() && a.workspace->partials.numel() >= need &&
                     a.workspace->counters.defined() && a.workspace->counters.numel() >= tiles &&
                     a.workspace->partials.is_cuda() && a.workspace->counters.is_cuda(),
                 "mixed_gemm: workspace too small for M {} x N {} x K {} ({} splits): needs {} partial floats and {} "
                 "counters (make_mixed_workspace)",
                 a.M, w.n, w.k, s.splits, need, tiles);
    p.partials = a.workspace->partials.data<float>();
    p.counters = a.workspace->counters.data<int32_t>();
  } else {
    p.atomic = s.atomic();
    if (p.atomic) DEFTNN_CUDA_CHECK(cudaMemset2DAsync(a.Y, size_t(ldy) * 4, 0, size_t(w.n) * 4, size_t(a.M), st));
  }
  dispatch(w.format, [&]<class U>() { launch<U>(p, s, st); });
}

MixedWorkspace make_mixed_workspace(const Context& ctx, const MixedGemmArgs& a) {
  const std::string why = mixed_gemm_can_implement(a);
  DEFTNN_CHECK(why.empty(), "{}", why);
  const MixedLaunch s = launch_shape(a);
  MixedWorkspace ws;
  ws.partials = Tensor::empty({std::max<int64_t>(workspace_floats(s), 1)}, DType::F32, Device::CUDA);
  ws.counters = Tensor::zeros({std::max<int64_t>(s.nblocks * s.mblocks, 1)}, ctx, DType::I32);
  return ws;
}

void mixed_unpack_device(Context& ctx, const WeightFormat& f, const uint32_t* words, int64_t n, uint32_t* out) {
  if (n <= 0) return;
  dispatch(f, [&]<class U>() {
    unpack_probe_kernel<U><<<unsigned((n + 255) / 256), 256, 0, ctx.stream()>>>(words, n, out);
    DEFTNN_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace deftnn::mixed
