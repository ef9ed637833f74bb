#include "sve/eliminate.h"

#include "layers/gemm_layer.h"
#include "sve/correlation.h"
#include "sve/groups.h"
#include "sve/plan.h"
#include "sve/search.h"

namespace deftnn::sve {

namespace {

Param* weight_of(Layer& l) {
  for (Param* p : l.params())
    if (p->name == "weight") return p;
  DEFTNN_FAIL("layer '{}' has no weight", l.name());
}

}  // namespace

std::vector<EliminatedLayer> eliminate(Net& net, Context& ctx, const EliminateOptions& o) {
  DEFTNN_CHECK(o.density > 0 && o.density <= 1, "SVE density must be in (0, 1], got {}", o.density);
  DEFTNN_CHECK(o.method == Method::Sve || o.method == Method::L1, "elimination method '{}' is not one of: sve, l1",
               method_name(o.method));
  std::vector<EliminatedLayer> done;
  for (size_t i : eligible_layers(net, o.layers)) {
    Layer& layer = net.layer(i);
    GemmLayer* gemm = layer.as_gemm();
    DEFTNN_CHECK(gemm, "layer '{}' ({}) runs no GEMM", layer.name(), layer.type());
    DEFTNN_CHECK(!gemm->sve().active(), "layer '{}' already has SVE applied", layer.name());
    // The synapse vectors are the K columns of W (M, K); a conv weight
    // (out, C/g, kh, kw) is searched as one (out, K) matrix over all groups.
    Tensor w = weight_of(layer)->value.to(Device::CPU, ctx);
    const int64_t M = w.dim(0), K = w.numel() / M;
    w = w.reshape({M, K});
    const int64_t group = o.group_of ? o.group_of(i) : 1;
    DEFTNN_CHECK(group >= 1 && K % group == 0, "layer '{}': elimination group {} does not divide K = {}", layer.name(),
                 group, K);
    std::vector<int32_t> kept;
    EliminatedLayer e{layer.name(), K, 0, group, 0};
    if (group == 1) {
      const int64_t target = kept_count(o.density, K, o.align);
      if (o.method == Method::L1) {
        kept = l1_keep(w, target);
      } else {
        SearchOptions so;
        so.align = o.align;
        Tensor rho = correlation_matrix(ctx, ctx.is_cuda() ? w.to(Device::CUDA, ctx) : w);
        SearchResult r = search_keep_count(rho.to(Device::CPU, ctx), target, so);
        kept = r.kept;
        e.alpha = r.alpha;
      }
    } else {
      // Whole channels: the density counts kept groups (the optimiser's rule,
      // tune/layer_options.cpp), the alignment still counts columns.
      const int64_t groups = kept_count(o.density, K / group, group_align(o.align, group));
      if (o.method == Method::L1) {
        kept = l1_keep_groups(w, group, groups);
      } else {
        SearchOptions so;
        so.align = o.align;
        SearchResult r = group_search(group_correlation_matrix(ctx, w, group), group, groups, so);
        kept = r.kept;
        e.alpha = r.alpha;
      }
    }
    e.kept = int64_t(kept.size());
    SvePlan plan = make_plan(K, kept);
    // The truncated weight goes where the layer's weight lives; the layer
    // uploads its index lists to that device (now, or at its next forward).
    const Device where = weight_of(layer)->value.device();
    Tensor truncated = apply_to_weight(plan, w).to(where, ctx);  // (M, K')
    SveState state = make_state(plan, o.transform);
    state.group = group;  // stored in the model file; loading checks kept is whole groups
    gemm->set_sve(std::move(state), truncated);
    if (where == ctx.device()) layer.on_device_change(ctx);
    done.push_back(e);
  }
  return done;
}

nlohmann::json to_json(const std::vector<EliminatedLayer>& layers) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& l : layers)
    j.push_back({{"layer", l.name}, {"k", l.k}, {"kept", l.kept}, {"density", double(l.kept) / double(l.k)}, {"group", l.group},
                 {"alpha", l.alpha}});
  return j;
}

}  // namespace deftnn::sve
