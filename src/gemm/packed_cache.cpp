#include "gemm/packed_cache.h"

#include "gemm/lowp.h"
#include "gemm/pack.h"

namespace deftnn {

const PackedMatrix* PackedWeightCache::get(Context& ctx, const GemmPlan& plan, const Tensor& w, int64_t groups,
                                           int64_t g) {
  if (plan.backend != GemmBackend::Fission) return nullptr;
  DEFTNN_CHECK(groups >= 1 && g >= 0 && g < groups && w.dim(0) % groups == 0,
               "packed weight: group {} of {} for a weight of shape {}", g, groups, shape_str(w.shape()));
  // The buffer address alone is not enough: a new weight may reuse a freed
  // one's address (owners also call invalidate() when they replace weights).
  const int64_t rows = w.dim(0) / groups, K = w.numel() / w.dim(0);
  const bool stale = packed_.size() != size_t(groups) || !(format_ == plan.format) ||
                     placement_ != plan.placement || source_ != w.raw() || packed_[0].rows != rows ||
                     packed_[0].cols != K;
  if (stale) {
    packed_.clear();
    const Tensor w2 = w.reshape({w.dim(0), K});  // (groups * M, K)
    for (int64_t i = 0; i < groups; ++i)
      packed_.push_back(pack_matrix(ctx, w2.slice0(i * rows, (i + 1) * rows), plan.format, plan.placement));
    format_ = plan.format, placement_ = plan.placement, source_ = w.raw();
  }
  return &packed_[size_t(g)];
}

const ConvertedMatrix* PackedWeightCache::converted(Context& ctx, const GemmPlan& plan, const Tensor& w,
                                                    int64_t groups, int64_t g) {
  if (plan.backend != GemmBackend::CublasLt && plan.backend != GemmBackend::CpuEmulated) return nullptr;
  DEFTNN_CHECK(groups >= 1 && g >= 0 && g < groups && w.dim(0) % groups == 0,
               "converted weight: group {} of {} for a weight of shape {}", g, groups, shape_str(w.shape()));
  const int64_t rows = w.dim(0) / groups, K = w.numel() / w.dim(0);
  const bool stale = converted_.size() != size_t(groups) || converted_[0].precision != plan.precision ||
                     converted_source_ != w.raw() || converted_[0].rows != rows || converted_[0].cols != K ||
                     converted_[0].data.device() != ctx.device();
  if (stale) {
    converted_.clear();
    const Tensor w2 = w.reshape({w.dim(0), K});  // (groups * M, K)
    for (int64_t i = 0; i < groups; ++i)
      converted_.push_back(convert_matrix(ctx, w2.slice0(i * rows, (i + 1) * rows), plan.precision));
    converted_source_ = w.raw();
  }
  return &converted_[size_t(g)];
}

const MixedMatrix* PackedWeightCache::mixed(Context& ctx, const GemmPlan& plan, const Tensor& w, int64_t groups,
                                            int64_t g) {
  if (plan.backend != GemmBackend::Mixed && plan.backend != GemmBackend::CpuMixed) return nullptr;
  DEFTNN_CHECK(groups >= 1 && g >= 0 && g < groups && w.dim(0) % groups == 0,
               "mixed weight: group {} of {} for a weight of shape {}", g, groups, shape_str(w.shape()));
  const int64_t rows = w.dim(0) / groups, K = w.numel() / w.dim(0);
  const bool on_cuda = ctx.is_cuda();
  const bool stale = mixed_.size() != size_t(groups) || !(mixed_[0].format == plan.weights) ||
                     mixed_source_ != w.raw() || mixed_[0].rows != rows || mixed_[0].cols != K ||
                     mixed_[0].decoded.empty() == !on_cuda;
  if (stale) {
    mixed_.clear();
    for (int64_t i = 0; i < groups; ++i)
      mixed_.push_back(make_mixed_matrix(ctx, w.data<float>() + i * rows * K, rows, K, K, plan.weights));
    mixed_source_ = w.raw();
  }
  return &mixed_[size_t(g)];
}

}  // namespace deftnn
