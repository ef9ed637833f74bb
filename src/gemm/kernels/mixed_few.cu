// The few-token mixed-input GEMM kernel (MixedAlgo::FewTokens,
// gemm/mixed/mixed_gemm.h): Y (M, N) = X (M, K) bf16 * dec(W)^T for M of a
// few tokens, on the same packed weights as the general kernel
// (gemm/mixed/mixed_layout.h), unpacked in registers right before
// mma.sync.m16n8k16 (fp32 accumulation).
//
// Why a second kernel: at one token the general kernel spends its time on
// fixed, serial work per block (the X slab staged in shared memory behind two
// barriers, the split-K epilogue's trips to L2), not on the weight bytes
// (docs/fission.md, "Tried and reverted"). Here nothing stands between a
// block's first instruction and its weight loads:
// - Block: kFewWarps = 8 warps on the same NT n8 tiles (8 NT output
//   channels); warp w takes the tiles' chunks w, w + 8, w + 16, ... (the
//   block streams its tiles' contiguous chunks in order), so K is split
//   across the warps of one block, and no cross-block split-K is needed.
// - A fragments straight from global memory (read-only path, L1-cached:
//   every block on an SM reads the same X): lane (g, t) loads the bf16 pairs
//   X[m0 + g][k + 2t, k + 2t + 1] and [k + 2t + 8, k + 2t + 9] (and row
//   g + 8 when H = 2); rows at or past M and k at or past K are zero, so no
//   X padding is read. No shared memory and no barrier before the loop.
// - Pipeline: a stage is S chunks per tile of weights and their X pairs; the
//   next stage's loads are issued before the current stage's MMAs. (Loading
//   the X pairs right before their MMAs instead, as L1 hits, left their
//   latency on the critical path: 19.4 us against 13.3 for the general
//   kernel, int8 4096 x 4096 at one token on the H100.)
// - End: each warp's fragments go to shared memory, one barrier, and the
//   block adds the 8 warps' partial sums in warp order (deterministic),
//   applies the per-channel scale (8-bit; the 4-bit group scales apply per
//   chunk as in the general kernel) and stores Y. One launch, no workspace.
// Weights are re-read for every 8 H rows of M, so this serves M <= 16.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "core/env.h"
#include "core/cuda_check.h"
#include "core/error.h"
#include "gemm/kernels/mixed_few.h"
#include "gemm/kernels/mixed_kernel_util.cuh"
#include "gemm/mixed/mixed_kernel_plan.h"
#include "gemm/mixed/mixed_layout.h"

namespace deftnn::mixed {
namespace {

using detail::dispatch;
using detail::ldg_stream;
using detail::mma_bf16;
using detail::word_of;

struct FewParams {
  const uint4* w;       // packed chunks
  const float* scales;  // per channel [np] or per group [kp / 128][np]
  const uint16_t* x;    // bf16 (M, K), row stride ldx
  float* y;             // fp32 (M, N), row stride ldy
  int M, N, K, ldx, ldy, np, kcs;
};

// bf16 pair X[row][k], X[row][k + 1] as the MMA wants it (lower k in the
// lower half); k is even and rows are 16-byte aligned, so the pair is one
// aligned 4-byte load. Zero past K and for dead rows.
__device__ __forceinline__ uint32_t x_pair(const uint16_t* row, int k, int K, bool live) {
  if (!live || k >= K) return 0u;
  if (k + 1 < K) return __ldg(reinterpret_cast<const unsigned int*>(row + k));
  return uint32_t(__ldg(reinterpret_cast<const unsigned short*>(row + k)));
}

// Chunks per tile per pipeline stage: a chunk's X pairs take 2 H registers
// per k16 step (4 steps for 8-bit, 8 for 4-bit), so 2 chunks for 8-bit with
// 8 rows, else 1: a thread stays under 128 registers (two blocks per SM).
template <class U, int H>
__host__ __device__ constexpr int few_stage_chunks() {
  return U::kBits == 8 && H == 1 ? 2 : 1;
}

template <class U, int NT, int H>
__global__ void __launch_bounds__(kFewThreads, 2) mixed_few_kernel(const FewParams p) {
  constexpr int CK = chunk_k(U::kBits);     // k per chunk: 64 or 128
  constexpr int SPW = U::kBits == 8 ? 1 : 2;  // k16 steps per packed word
  constexpr int STEPS = 4 * SPW;            // k16 steps per chunk
  constexpr bool kGrouped = U::kBits == 4;  // one scale per chunk (= group of 128)
  constexpr int S = few_stage_chunks<U, H>();
  __shared__ float red[kFewWarps][NT * 4][32];  // the warps' fragments, [warp][element][lane]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int tile0 = blockIdx.x * NT;
  const int m0 = blockIdx.y * 8 * H;
  const bool live0 = m0 + g < p.M, live1 = H == 2 && m0 + g + 8 < p.M;
  const uint16_t* x0 = p.x + int64_t(live0 ? m0 + g : 0) * p.ldx;
  const uint16_t* x1 = p.x + int64_t(live1 ? m0 + g + 8 : 0) * p.ldx;
  const int mine = p.kcs > warp ? (p.kcs - warp + kFewWarps - 1) / kFewWarps : 0;  // this warp's chunks

  float acc[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[nt][i] = 0.f;

  struct Stage {  // one stage in flight: S chunks per tile of weights, and their X pairs
    uint4 w[NT][S];
    float2 s[NT][S];
    uint32_t x[S][STEPS][2 * H];  // per k16 step: row g (k, k + 8), then row g + 8 (k, k + 8)
  };
  auto load = [&](Stage& st, int i0) {
#pragma unroll
    for (int u = 0; u < S; ++u) {
      if (i0 + u >= mine) break;
      const int kc = warp + kFewWarps * (i0 + u);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        st.w[nt][u] = ldg_stream(p.w + chunk_uint4(tile0 + nt, p.kcs, kc, lane));
        if constexpr (kGrouped)
          st.s[nt][u] = __ldg(reinterpret_cast<const float2*>(p.scales + group_scale_index(kc, p.np, tile0 + nt, lane)));
      }
#pragma unroll
      for (int q = 0; q < STEPS; ++q) {
        const int k = kc * CK + 16 * q + 2 * t;
        st.x[u][q][0] = x_pair(x0, k, p.K, live0);
        st.x[u][q][1] = x_pair(x0, k + 8, p.K, live0);
        if constexpr (H == 2) {
          st.x[u][q][2] = x_pair(x1, k, p.K, live1);
          st.x[u][q][3] = x_pair(x1, k + 8, p.K, live1);
        }
      }
    }
  };
  auto compute = [&](const Stage& st, int i0) {
#pragma unroll
    for (int u = 0; u < S; ++u) {
      if (i0 + u >= mine) break;
      float gacc[NT][4];
      float (&dst)[NT][4] = kGrouped ? gacc : acc;
      if constexpr (kGrouped) {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int i = 0; i < 4; ++i) gacc[nt][i] = 0.f;
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        uint32_t b[NT][2 * SPW];
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) U::word(word_of(st.w[nt][u], j), b[nt]);
#pragma unroll
        for (int s = 0; s < SPW; ++s) {
          const int q = j * SPW + s;
          // A fragment: a0 (row g, k 2t), a1 (row g + 8, k 2t), a2 (row g, k 2t + 8), a3 (row g + 8, k 2t + 8)
          uint32_t a[4] = {st.x[u][q][0], 0u, st.x[u][q][1], 0u};
          if constexpr (H == 2) a[1] = st.x[u][q][2], a[3] = st.x[u][q][3];
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) mma_bf16(dst[nt], a, b[nt][2 * s], b[nt][2 * s + 1]);
        }
      }
      if constexpr (kGrouped) {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const float2 sc = st.s[nt][u];
          acc[nt][0] = fmaf(gacc[nt][0], sc.x, acc[nt][0]);
          acc[nt][1] = fmaf(gacc[nt][1], sc.y, acc[nt][1]);
          acc[nt][2] = fmaf(gacc[nt][2], sc.x, acc[nt][2]);
          acc[nt][3] = fmaf(gacc[nt][3], sc.y, acc[nt][3]);
        }
      }
    }
  };

  Stage cur;
  load(cur, 0);
  for (int i0 = 0; i0 < mine; i0 += S) {
    Stage nxt;
    if (i0 + S < mine) load(nxt, i0 + S);
    compute(cur, i0);
    cur = nxt;
  }

  // Reduce the warps' partial sums in warp order, scale, store.
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i) red[warp][nt * 4 + i][lane] = acc[nt][i];
  __syncthreads();
  for (int e = threadIdx.x; e < NT * 4 * 32; e += kFewThreads) {
    const int el = e / 32, ln = e % 32, nt = el / 4, i = el % 4;
    const int m = m0 + ln / 4 + 8 * (i / 2), n = (tile0 + nt) * kTileN + 2 * (ln % 4) + i % 2;
    if (m >= p.M || n >= p.N || (H == 1 && i >= 2)) continue;
    float v = 0.f;
#pragma unroll
    for (int w = 0; w < kFewWarps; ++w) v += red[w][el][ln];
    if constexpr (!kGrouped) v *= __ldg(p.scales + n);
    p.y[int64_t(m) * p.ldy + n] = v;
  }
}

template <class U, int NT, int H>
void launch_few(const FewParams& p, const FewLaunch& f, cudaStream_t st) {
  mixed_few_kernel<U, NT, H><<<dim3(unsigned(f.nblocks), unsigned(f.mblocks)), kFewThreads, 0, st>>>(p);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

int few_nt_override() {
  static const int v = int(env_int("DEFTNN_MIXED_FEW_NT", 0, 0, 2));
  return v;
}

}  // namespace

void mixed_few_gemm(cudaStream_t st, const MixedGemmArgs& a) {
  const DeviceWeights& w = *a.W;
  const FewLaunch f = plan_few_launch(a.M, w.n, w.np, few_nt_override());
  FewParams p{};
  p.w = static_cast<const uint4*>(w.bytes.raw());
  p.scales = w.scales.data<float>();
  p.x = static_cast<const uint16_t*>(a.X);
  p.y = a.Y;
  p.M = int(a.M), p.N = int(w.n), p.K = int(w.k);
  p.ldx = int(a.ldx ? a.ldx : w.k), p.ldy = int(a.ldy ? a.ldy : w.n);
  p.np = int(w.np);
  p.kcs = int(w.kp / chunk_k(w.format.bits()));
  dispatch(w.format, [&]<class U>() {
    if (f.h == 1) f.nt == 1 ? launch_few<U, 1, 1>(p, f, st) : launch_few<U, 2, 1>(p, f, st);
    else f.nt == 1 ? launch_few<U, 1, 2>(p, f, st) : launch_few<U, 2, 2>(p, f, st);
  });
}

}  // namespace deftnn::mixed
