// The mixed-input GEMM kernel's tiling (kernels/mixed_gemm.cu): its
// constants, the index arithmetic it uses, and the launch plan (grid, rows per
// block, split-K). Host and device share this header so a CPU test can replay
// the kernel's data flow with the PTX fragment definitions of ldmatrix and
// mma (tests/gemm/test_mixed_pack.cpp, MixedKernelEmulation).
#pragma once

#include <cstdint>

#include "gemm/mixed/mixed_layout.h"

namespace deftnn::mixed {

inline constexpr int kWarps = 4;
inline constexpr int kThreads = kWarps * 32;
inline constexpr int kNT = 2;                 // n8 tiles per warp: kWarps * kNT * 8 == kPadN
inline constexpr int kU = 2;                  // chunks per n-tile per pipeline stage
inline constexpr int kXPad = 8;               // bf16 padding per shared-memory X row (16 bytes)
inline constexpr int kBlocksPerSmTarget = 4;  // split-K fills the GPU with this many blocks per SM
static_assert(kWarps * kNT * kTileN == kPadN, "the packer pads N to one thread block's n-range");

// k of one staged X slab for MB m16 row blocks (32 KB of bf16) and its row stride.
DEFTNN_HD constexpr int slab_k(int mb) { return 1024 / mb; }
DEFTNN_HD constexpr int slab_lds(int mb) { return slab_k(mb) + kXPad; }
DEFTNN_HD constexpr int slab_bytes(int mb) { return 16 * mb * slab_lds(mb) * 2; }

// First n8 tile of warp `warp` in block `bx`.
DEFTNN_HD constexpr int warp_tile0(int bx, int warp) { return (bx * kWarps + warp) * kNT; }
// uint4 index of lane's 16 bytes of chunk (tile, kc).
DEFTNN_HD constexpr int64_t chunk_uint4(int64_t tile, int64_t kcs, int64_t kc, int lane) {
  return (tile * kcs + kc) * kLanes + lane;
}
// Index of the first of lane's two group scales (columns 2t, 2t+1) of chunk kc.
DEFTNN_HD constexpr int64_t group_scale_index(int64_t kc, int64_t np, int64_t tile, int lane) {
  return kc * np + tile * kTileN + 2 * (lane % 4);
}
// Element offset in the X slab of the row address lane provides to
// ldmatrix.x4 for the m16 x k16 block (row block mb, k kk of the slab):
// matrices 0..3 = (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15).
DEFTNN_HD constexpr int a_lds_offset(int mb, int lane, int kk, int lds) {
  return (mb * 16 + (lane % 8) + 8 * ((lane / 8) % 2)) * lds + kk + 8 * (lane / 16);
}
// k inside the slab of step s of word j of chunk u of the stage at chunk in_slab of the slab.
DEFTNN_HD constexpr int step_k_in_slab(int in_slab, int u, int j, int s, int ck, int spw) {
  return (in_slab + u) * ck + 16 * (j * spw + s);
}

struct MixedLaunch {
  int mb = 1;                 // m16 row blocks per thread block
  int64_t nblocks = 0;        // grid.x: n-ranges of kPadN
  int64_t mblocks = 0;        // grid.z: blocks of 16 mb tokens
  int splits = 1;             // grid.y
  int chunks_per_split = 0;   // a multiple of kU
  bool atomic() const { return splits > 1; }
};
// The launch for M tokens over weights padded to (np, kp) of `bits` per
// value; split_k as in MixedGemmArgs; sms: multiprocessors of the GPU. Auto
// split: ceil(blocks_per_sm * sms / (n-blocks x m-blocks)) splits, at most one
// per stage of kU chunks.
MixedLaunch plan_mixed_launch(int64_t M, int64_t np, int64_t kp, int bits, int split_k, int sms,
                              int blocks_per_sm = kBlocksPerSmTarget);

}  // namespace deftnn::mixed
