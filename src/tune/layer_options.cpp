#include "tune/layer_options.h"

#include <algorithm>
#include <fmt/format.h>
#include <optional>
#include <set>

#include "core/timing.h"
#include "sve/correlation.h"
#include "sve/groups.h"
#include "sve/search.h"

namespace deftnn::tune {

LayerOptions build_layer_options(Net& net, Context& ctx, const train::PreparedData& d, const Baseline& b,
                                 const OptimizeOptions& o) {
  const bool ls = o.method == sve::Method::SveLs;
  const bool paper_twin = ls && o.paper_baseline;
  LayerOptions r;
  for (size_t s = 0; s < b.optimised.size(); ++s) {
    const GemmLayer& l = b.layers[b.optimised[s]];
    LayerSetting dense = capture(net, l, ctx);
    Variant dv;
    dv.id = l.name + "/dense";
    dv.layer = s;
    dv.method = sve::Method::Dense;
    dv.val_acc = dv.val_acc_before = b.val_acc;
    dv.time_ms = b.time_ms;
    dv.setting = dense;
    r.sve.push_back({dv});
    r.l1.push_back({dv});
    r.paper.push_back({dv});
    Tensor w = dense.weight.reshape({l.M, l.K});
    const Stopwatch clock;
    // Channel granularity: the search runs over groups (sve/groups.h) and
    // densities count kept groups; group 1 is the tap search as ever.
    const int64_t group = elimination_group(net, l.index, o.granularity);
    const int64_t G = l.K / group;
    Tensor rho = group == 1 ? sve::correlation_matrix(ctx, w).to(Device::CPU, ctx)
                            : sve::group_correlation_matrix(ctx, w, group);
    std::vector<sve::SearchResult> searches;
    sve::SearchOptions so;
    so.align = o.align;
    if (!o.alphas.empty()) {
      for (double a : o.alphas) {
        so.alpha = a;
        searches.push_back(group == 1 ? sve::greedy_search(rho, so) : sve::group_search(rho, group, 0, so));
      }
    } else {
      for (double dens : o.densities)
        searches.push_back(group == 1 ? sve::search_keep_count(rho, sve::kept_count(dens, l.K), so)
                                      : sve::group_search(rho, group,
                                                          sve::kept_count(dens, G, sve::group_align(o.align, group)), so));
    }
    std::optional<sve::InputStats> stats;
    // A linear layer gives one column per image: take at least 5 K images so
    // that Sigma is well determined (conv layers give H_o * W_o per image).
    if (ls)
      stats = layer_input_stats(net, ctx, l, d.train, l.type == "linear" ? std::max(o.stats_images, 5 * l.K) : o.stats_images);
    say(o.log, fmt::format("{}: K={} M={}{}, correlation, search{} {:.2f} s", l.name, l.K, l.M,
                           group > 1 ? fmt::format(", {} channels of {} synapse vectors", G, group) : "",
                           ls ? fmt::format(" and input statistics ({} columns)", stats->count) : "", clock.seconds()));
    std::sort(searches.begin(), searches.end(),
              [](const auto& a, const auto& b) { return a.kept.size() > b.kept.size(); });
    std::set<size_t> seen;
    for (const auto& sr : searches) {
      if (int64_t(sr.kept.size()) >= l.K || !seen.insert(sr.kept.size()).second) continue;
      const VariantRequest req{.layer = l,
                               .slot = s,
                               .dense = dense,
                               .method = o.method,
                               .search = sr,
                               .transform = o.transform,
                               .stats = stats ? &*stats : nullptr,
                               .ridge = o.ridge,
                               .group = group};
      Variant v = make_variant(net, ctx, req, d.train, d.val, b.finetune);
      say(o.log, fmt::format("  {}: kept {}/{} ({}{}), val {:.2f}% -> fine-tuned {:.2f}% ({:.1f} s)", v.id, v.kept(), l.K,
                             sr.added_by_rounding ? fmt::format("+{} by rounding, ", sr.added_by_rounding) : "",
                             fmt::format("alpha {:.4f}", sr.alpha), 100 * v.val_acc_before, 100 * v.val_acc,
                             v.finetune_s));
      if (o.l1_baseline) {
        sve::SearchResult lr;
        lr.k = l.K;
        lr.kept = group == 1 ? sve::l1_keep(w, v.kept()) : sve::l1_keep_groups(w, group, v.kept() / group);
        const VariantRequest l1{.layer = l, .slot = s, .dense = dense, .method = sve::Method::L1, .search = lr,
                                .transform = o.transform, .group = group};
        Variant lv = make_variant(net, ctx, l1, d.train, d.val, b.finetune);
        say(o.log, fmt::format("  {}: val {:.2f}% -> fine-tuned {:.2f}%", lv.id, 100 * lv.val_acc_before,
                               100 * lv.val_acc));
        r.l1[s].push_back(std::move(lv));
      }
      if (paper_twin) {
        const VariantRequest paper{.layer = l, .slot = s, .dense = dense, .method = sve::Method::Sve, .search = sr,
                                   .transform = o.transform, .group = group};
        Variant pv = make_variant(net, ctx, paper, d.train, d.val, b.finetune);
        say(o.log, fmt::format("  {}: val {:.2f}% -> fine-tuned {:.2f}%", pv.id, 100 * pv.val_acc_before,
                               100 * pv.val_acc));
        r.paper[s].push_back(std::move(pv));
      }
      r.sve[s].push_back(std::move(v));
    }
  }
  return r;
}

}  // namespace deftnn::tune
