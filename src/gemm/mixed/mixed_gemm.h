// The mixed-input GEMM on the GPU: Y (M, N) fp32 = X (M, K) bf16 * dec(W)^T,
// W (N, K) packed offline (gemm/mixed/mixed_pack.h) in a narrow format,
// unpacked in registers to bf16 right before mma.sync m16n8k16 (fp32
// accumulation). Built for few tokens (M = 1..64), where reading the weights
// binds; larger M runs in blocks of 64 rows, each re-reading the weights.
// Not wired into gemm(): this is its own entry point (docs/fission.md,
// "Tensor-core mixed-input fission").
#pragma once

#include <cstdint>
#include <string>

#include "core/context.h"
#include "core/tensor.h"
#include "gemm/mixed/mixed_pack.h"

namespace deftnn::mixed {

// Packed weights on the device: the bytes and the scales of a PackedWeights.
struct DeviceWeights {
  WeightFormat format;
  int64_t n = 0, k = 0, np = 0, kp = 0;
  Tensor bytes;   // U8, np * kp * bits / 8, 16-byte aligned
  Tensor scales;  // F32, as PackedWeights::scales
};
DeviceWeights upload(const PackedWeights& p, const Context& ctx);

// Split-K: Auto picks the number of k-splits that fills the GPU (several
// thread blocks per SM); Off runs one thread block per (n-range, M block) over
// all of K and stores Y directly; a number > 0 forces that many splits (tests).
// With more than one split Y is zeroed on the stream, then the splits add
// their fp32 partial sums with atomics (the order of the additions varies).
inline constexpr int kSplitAuto = 0, kSplitOff = -1;

// Split-K workspace (optional, owned by the caller): every split stores its
// partial sums there and the last split of a tile to arrive (per-tile
// counters) adds them in split order and stores Y: one launch, no zeroing of
// Y, deterministic. The counters start at zero and every mixed_gemm leaves
// them at zero; one workspace serves one call at a time (one stream).
// Without a workspace, Y is zeroed and the splits add with atomics.
struct MixedWorkspace {
  Tensor partials;  // F32
  Tensor counters;  // I32, zero between calls
};

struct MixedGemmArgs {
  int64_t M = 0;                      // tokens; N and K come from the weights
  const void* X = nullptr;            // bf16 (M, K), row stride ldx
  int64_t ldx = 0;                    // 0 = K
  const DeviceWeights* W = nullptr;
  float* Y = nullptr;                 // fp32 (M, N), row stride ldy
  int64_t ldy = 0;                    // 0 = N
  int split_k = kSplitAuto;
  MixedWorkspace* workspace = nullptr;  // split-K without atomics (above); null: atomics
};

// "" when mixed_gemm can run `a`, else why not: X 16-byte aligned with ldx a
// multiple of 8 (16-byte rows), ldx >= K, ldy >= N, sizes below 2^31, weights
// uploaded, a CUDA context.
std::string mixed_gemm_can_implement(const MixedGemmArgs& a);
// Runs on ctx's stream; throws deftnn::Error with can_implement's reason.
void mixed_gemm(Context& ctx, const MixedGemmArgs& a);
// The split count mixed_gemm will use (1 = no split), for tests and benchmarks.
int mixed_gemm_splits(const MixedGemmArgs& a);
// A workspace large enough for `a` (and any call with as many or fewer
// partial sums), counters zeroed on ctx's stream.
MixedWorkspace make_mixed_workspace(const Context& ctx, const MixedGemmArgs& a);

// Test hook: runs format f's device unpack (gemm/mixed/mixed_layout.h) on each
// of the n words at `words` (device) and writes its 2 (8-bit) or 4 (4-bit)
// bf16x2 registers per word to `out` (device), so a failing GEMM can be
// traced to the bit tricks or to the rest of the kernel.
void mixed_unpack_device(Context& ctx, const WeightFormat& f, const uint32_t* words, int64_t n, uint32_t* out);

}  // namespace deftnn::mixed
