// Weights packed once for the fission kernels, kept by the GEMM layer that
// owns them (issue 3: "weights are packed once, offline").
//
// A layer asks for its packed weight on every forward; the pack is rebuilt
// only when the format, the placement or the weight tensor changes, or after
// invalidate(). Layers call invalidate() in backward(), because the optimiser
// then updates the weights in place. With a non-fission backend get() returns
// null and nothing is packed.
//
// The same holds for the tensor-core precisions: converted() keeps the weight
// converted once to bf16, fp16 or fp8 e4m3 (with its per-tensor fp8 scale,
// amax / 448) for the CublasLt and CpuEmulated backends, and returns null for
// every other backend.
#pragma once

#include <vector>

#include "gemm/gemm.h"

namespace deftnn {

class PackedWeightCache {
 public:
  // The packed block of group `g` of w, the weight viewed as (groups * M, K)
  // row-major; null unless `plan` (resolve_gemm's, the one the GEMM then
  // runs with) is the fission backend.
  const PackedMatrix* get(Context& ctx, const GemmPlan& plan, const Tensor& w, int64_t groups, int64_t g);
  // The converted block of group `g` of w, as get(); null unless `plan` is
  // the CublasLt or CpuEmulated backend.
  const ConvertedMatrix* converted(Context& ctx, const GemmPlan& plan, const Tensor& w, int64_t groups, int64_t g);
  // The block of group `g` of w packed in plan.weights, as get(); null unless
  // `plan` is the Mixed or CpuMixed backend.
  const MixedMatrix* mixed(Context& ctx, const GemmPlan& plan, const Tensor& w, int64_t groups, int64_t g);
  void invalidate() {
    packed_.clear();
    converted_.clear();
    mixed_.clear();
  }

 private:
  Format format_;
  FissionPlacement placement_ = FissionPlacement::OnChip;
  const void* source_ = nullptr;  // the weight buffer the pack was made from
  std::vector<PackedMatrix> packed_;  // one per group
  const void* converted_source_ = nullptr;
  std::vector<ConvertedMatrix> converted_;  // one per group
  const void* mixed_source_ = nullptr;
  std::vector<MixedMatrix> mixed_;  // one per group
};

}  // namespace deftnn
