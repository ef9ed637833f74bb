// Mixed-input GEMM kernels (gemm/mixed/mixed_gemm.h): Y (M, N) = X (M, K) bf16
// * dec(W)^T with W packed in a narrow format (gemm/mixed/mixed_layout.h).
//
// Thread block: 4 warps; warp w owns kNT = 2 n8-tiles (16 output channels), a
// block 64 (= kPadN). Grid: x = n-ranges of 64, y = k-splits, z = blocks of
// 16 * MB tokens (MB = 1, 2 or 4 m16 MMA row blocks per thread block).
// Per stage a lane copies kNT * kU 16-byte slices of weight chunks (one whole
// 512-byte chunk per warp and copy) with cp.async into a shared-memory ring of
// S stages (kStages, or 8), S - 1 stages ahead of the one it computes: at one
// token a block's whole k-split is in flight at once. Activations: a slab of
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
#include <cstdlib>

#include "core/cuda_check.h"
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

// cp.async: global -> shared without registers. 16 bytes bypass L1 (.cg: the
// weights are read once); the 8-byte group scales go through L1 (.ca: the
// four lanes of a group column read the same 8 bytes).
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(uint32_t(__cvta_generic_to_shared(smem))), "l"(gmem)
               : "memory");
}
__device__ __forceinline__ void cp_async8(void* smem, const void* gmem) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8;" ::"r"(uint32_t(__cvta_generic_to_shared(smem))), "l"(gmem)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }

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

template <class U, int MB, int S>
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

  // The weight ring (shared memory, private to each thread): S stages of
  // kNT x kU 16-byte chunk slices per thread, filled by cp.async S - 1 stages
  // ahead of the stage computed, so a block has up to (S - 1) x kNT x kU x 16
  // bytes per thread in flight (a register double buffer had one stage). A
  // thread reads back only the bytes it copied, so cp.async.wait_group is the
  // only synchronisation the ring needs. Slot layout [stage][nt][u][thread]:
  // a warp's 32 lanes read 512 consecutive bytes, conflict-free.
  uint4* ring = smem_raw + slab_bytes(MB) / 16;
  float2* ring_s = reinterpret_cast<float2*>(ring + S * kNT * kU * kThreads);  // 4-bit only: group scales
  auto slot = [&](int stage, int nt, int u) { return ((stage * kNT + nt) * kU + u) * kThreads + int(threadIdx.x); };
  const int nst = (kc_end - kc_begin + kU - 1) / kU;  // stages of this block (kc_begin < kc_end or 0)
  auto issue = [&](int st) {  // stage st (chunks kc_begin + st * kU ...) into ring slot st % S
    const int kc = kc_begin + st * kU, r = st % S;
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
      for (int u = 0; u < kU; ++u)
        if (kc + u < kc_end) {
          cp_async16(ring + slot(r, nt, u), p.w + chunk_uint4(tile0 + nt, p.kcs, kc + u, lane));
          if constexpr (kGrouped)
            cp_async8(ring_s + slot(r, nt, u), p.scales + group_scale_index(kc + u, p.np, tile0 + nt, lane));
        }
  };
#pragma unroll
  for (int st = 0; st < S - 1; ++st) {
    if (st < nst) issue(st);
    cp_async_commit();  // (empty groups too: the wait below counts groups)
  }

  for (int it = 0; it < nst; ++it) {
    const int kc = kc_begin + it * kU;
    if (it + S - 1 < nst) issue(it + S - 1);
    cp_async_commit();
    cp_async_wait<S - 1>();  // this thread's copies of stage `it` have landed
    const int in_slab = (kc - kc_begin) % CPS;
    if (in_slab == 0) {
      __syncthreads();  // everyone is done with the previous slab
      stage_x<MB>(xs, p, m0, kc * CK);
      __syncthreads();
    }
    uint4 cur[kNT][kU];
    float2 cur_s[kNT][kU];
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        cur[nt][u] = ring[slot(it % S, nt, u)];
        if constexpr (kGrouped) cur_s[nt][u] = ring_s[slot(it % S, nt, u)];
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
  }
  cp_async_wait<0>();  // (only empty groups can be pending here)

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

int env_int(const char* name) {
  const char* e = std::getenv(name);
  const int v = e ? std::atoi(e) : 0;
  return v > 0 ? v : 0;
}

// The split-K target of thread blocks per SM for M tokens: 2 up to 8 tokens,
// kBlocksPerSmTarget above (a sweep on the H100, int4 on the Llama-7B shapes,
// bench/results/tensorcore-h100-20261207b: at one token 2 beat 4 by 7-13% on
// all three shapes; at 16 tokens 4 won on the two wide ones), never more
// than fit on an SM at once (blocks of a second wave would only wait). Lab
// switch: DEFTNN_MIXED_BLOCKS_PER_SM=<n> (read once) sets it for every M.
int blocks_per_sm_target(int64_t M) {
  static const int n = env_int("DEFTNN_MIXED_BLOCKS_PER_SM");
  return n > 0 ? n : M <= 8 ? 2 : kBlocksPerSmTarget;
}
// Stages of the cp.async weight ring: kStages; lab switch
// DEFTNN_MIXED_STAGES=4|8 (read once; others are kStages).
int ring_stages() {
  static const int n = env_int("DEFTNN_MIXED_STAGES");
  return n == 4 || n == 8 ? n : kStages;
}

// Shared memory of one block: the X slab, the weight ring, and (4-bit
// formats) the ring of group scales.
constexpr int smem_bytes(int bits, int mb, int stages) {
  return slab_bytes(mb) + stages * kNT * kU * kThreads * (16 + (bits == 4 ? 8 : 0));
}

// Blocks of kernel <U, MB, S> resident per SM (its shared memory allowed past
// the default 48 KB first), once per instantiation.
template <class U, int MB, int S>
int resident_blocks() {
  static const int n = [] {
    auto* k = mixed_gemm_kernel<U, MB, S>;
    const int smem = smem_bytes(U::kBits, MB, S);
    DEFTNN_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    DEFTNN_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout,
                                           int(cudaSharedmemCarveoutMaxShared)));
    int blocks = 0;
    DEFTNN_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, k, kThreads, smem));
    DEFTNN_CHECK(blocks > 0, "mixed_gemm: a {}-bit kernel with {} row blocks and {} stages ({} bytes of shared memory) "
                 "does not fit on this GPU's multiprocessors", U::kBits, MB, S, smem);
    return blocks;
  }();
  return n;
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

// Calls fn.template operator()<U, MB, S>() for format f, m16 row blocks mb, stages s.
template <class Fn>
void dispatch_kernel(const WeightFormat& f, int mb, int s, Fn&& fn) {
  dispatch(f, [&]<class U>() {
    auto with_s = [&]<int MB>() {
      if (s == 8) fn.template operator()<U, MB, 8>();
      else fn.template operator()<U, MB, 4>();
    };
    if (mb == 1) with_s.template operator()<1>();
    else if (mb == 2) with_s.template operator()<2>();
    else with_s.template operator()<4>();
  });
}

MixedLaunch launch_shape(const MixedGemmArgs& a) {
  const int mb = mixed_row_blocks(a.M), stages = a.stages ? a.stages : ring_stages();
  int fit = 1;
  dispatch_kernel(a.W->format, mb, stages, [&]<class U, int MB, int S>() { fit = resident_blocks<U, MB, S>(); });
  MixedLaunch s = plan_mixed_launch(a.M, a.W->np, a.W->kp, a.W->format.bits(), a.split_k, sm_count(),
                                    std::min(blocks_per_sm_target(a.M), fit));
  s.stages = stages;
  return s;
}
// Partial-sum floats of the serial split-K for a launch.
int64_t workspace_floats(const MixedLaunch& s) {
  return s.nblocks * s.mblocks * s.splits * kThreads * s.mb * kNT * 4;
}

void launch(const WeightFormat& f, const Params& p, const MixedLaunch& s, cudaStream_t st) {
  const dim3 grid(unsigned(s.nblocks), unsigned(s.splits), unsigned(s.mblocks));
  dispatch_kernel(f, s.mb, s.stages, [&]<class U, int MB, int S>() {
    resident_blocks<U, MB, S>();  // (its shared-memory attribute is set before the first launch)
    mixed_gemm_kernel<U, MB, S><<<grid, kThreads, smem_bytes(U::kBits, MB, S), st>>>(p);
    DEFTNN_CUDA_CHECK_LAUNCH();
  });
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
  launch(w.format, p, s, st);
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
