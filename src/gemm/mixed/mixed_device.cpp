// Host side of the mixed-input GEMM that needs no CUDA compiler: upload and
// the can_implement rule (the launcher is kernels/mixed_gemm.cu).
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"
#include "gemm/mixed/mixed_gemm.h"
#include "gemm/mixed/mixed_kernel_plan.h"

#include <algorithm>

namespace deftnn::mixed {

DeviceWeights upload(const PackedWeights& p, const Context& ctx) {
  DeviceWeights d;
  d.format = p.format;
  d.n = p.n, d.k = p.k, d.np = p.np, d.kp = p.kp;
  Tensor b = Tensor::empty({int64_t(p.bytes.size())}, DType::U8, Device::CPU);
  std::memcpy(b.raw(), p.bytes.data(), p.bytes.size());
  Tensor s = Tensor::empty({int64_t(p.scales.size())}, DType::F32, Device::CPU);
  std::memcpy(s.raw(), p.scales.data(), p.scales.size() * sizeof(float));
  d.bytes = b.to(Device::CUDA, ctx);
  d.scales = s.to(Device::CUDA, ctx);
  return d;
}

MixedLaunch plan_mixed_launch(int64_t M, int64_t np, int64_t kp, int bits, int split_k, int sms, int blocks_per_sm) {
  MixedLaunch s;
  s.mb = M <= 16 ? 1 : M <= 32 ? 2 : 4;
  const int64_t rows = 16 * s.mb;
  s.mblocks = (M + rows - 1) / rows;
  s.nblocks = np / kPadN;
  const int kcs = int(kp / chunk_k(bits));
  const int max_splits = std::max((kcs + kU - 1) / kU, 1);
  int64_t splits = 1;
  if (split_k > 0) splits = split_k;
  else if (split_k == kSplitAuto) {
    const int64_t tiles = std::max<int64_t>(s.nblocks * s.mblocks, 1);
    splits = (int64_t(std::max(blocks_per_sm, 1)) * sms + tiles - 1) / tiles;
  }
  splits = std::clamp<int64_t>(splits, 1, max_splits);
  int cps = int((kcs + splits - 1) / splits);
  cps = std::max((cps + kU - 1) / kU * kU, kU);
  s.chunks_per_split = cps;
  s.splits = std::max((kcs + cps - 1) / cps, 1);
  return s;
}

std::string mixed_gemm_can_implement(const MixedGemmArgs& a) {
  if (!a.W || !a.W->bytes.defined() || !a.W->scales.defined()) return "mixed_gemm: no uploaded weights";
  const DeviceWeights& w = *a.W;
  if (!w.bytes.is_cuda() || !w.scales.is_cuda()) return "mixed_gemm: weights are not on the GPU (upload them)";
  if (a.M < 0) return fmt::format("mixed_gemm: M = {} is negative", a.M);
  const int64_t ldx = a.ldx ? a.ldx : w.k, ldy = a.ldy ? a.ldy : w.n;
  if (ldx < w.k) return fmt::format("mixed_gemm: ldx {} below K {}", ldx, w.k);
  if (ldy < w.n) return fmt::format("mixed_gemm: ldy {} below N {}", ldy, w.n);
  if (ldx % 8) return fmt::format("mixed_gemm: ldx {} is not a multiple of 8 (X rows are read as 16-byte vectors)", ldx);
  if (a.M > 0 && w.n > 0 && w.k > 0) {
    if (!a.X || !a.Y) return "mixed_gemm: X or Y is null";
    if (reinterpret_cast<uintptr_t>(a.X) % 16) return "mixed_gemm: X is not 16-byte aligned";
  }
  const int64_t lim = int64_t(1) << 31;
  if (a.M * ldx >= lim || a.M * ldy >= lim || w.np * w.kp >= lim)
    return fmt::format("mixed_gemm: sizes M {} x ldx {}, M x ldy {}, Np {} x Kp {} must stay below 2^31 elements", a.M,
                       ldx, ldy, w.np, w.kp);
  if (a.split_k < kSplitOff) return fmt::format("mixed_gemm: split_k {} (use kSplitAuto, kSplitOff or a count)", a.split_k);
  return "";
}

}  // namespace deftnn::mixed
