#include "sve/eligible.h"

#include "core/error.h"

namespace deftnn::sve {

std::vector<size_t> eligible_layers(const std::vector<int64_t>& gemm_flops, const Eligibility& e) {
  DEFTNN_CHECK(e.min_flops_share >= 0 && e.min_flops_share <= 1, "SVE min_flops_share must be in [0, 1], got {}",
               e.min_flops_share);
  int64_t total = 0;
  for (int64_t f : gemm_flops) {
    DEFTNN_CHECK(f >= 0, "a GEMM layer has negative FLOPs ({})", f);
    total += f;
  }
  std::vector<size_t> out;
  for (size_t i = 0; i < gemm_flops.size(); ++i) {
    if (i == 0 && !e.include_input_layer) continue;
    if (double(gemm_flops[i]) < e.min_flops_share * double(total)) continue;
    out.push_back(i);
  }
  return out;
}

std::vector<size_t> eligible_layers(const Net& net, const Eligibility& e) {
  std::vector<size_t> index;
  std::vector<int64_t> flops;
  for (size_t i = 0; i < net.size(); ++i) {
    const Layer& layer = net.layer(i);
    if (!layer.has_gemm()) continue;
    const GemmShape s = layer.gemm_shape(net.input_shape_of(i, 1));
    index.push_back(i);
    flops.push_back(2 * s.M * s.K * s.N * s.groups);
  }
  std::vector<size_t> out;
  for (size_t p : eligible_layers(flops, e)) out.push_back(index[p]);
  return out;
}

}  // namespace deftnn::sve
