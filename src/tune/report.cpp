#include "tune/report.h"

#include <optional>

namespace deftnn::tune {

namespace {

std::vector<std::string> format_names(const std::vector<Format>& formats) {
  std::vector<std::string> v;
  for (const Format& f : formats) v.push_back(f.name());
  return v;
}

}  // namespace

nlohmann::json optimize_report(const OptimizeResult& r, const OptimizeOptions& o, const DenseSummary& dense) {
  const bool paper_twin = o.method == sve::Method::SveLs && o.paper_baseline;
  const size_t L = r.optimised.size();
  const double dense_test = dense.test_acc;
  nlohmann::json j;
  j["model"] = dense.model;
  j["device"] = dense.device;
  j["dense"] = {{"val_acc", dense.val_acc}, {"test_acc", dense.test_acc}, {"time_ms", dense.time_ms},
                {"gemm_flops", dense.gemm_flops}, {"timing_batch", dense.timing_batch}};
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < r.layers.size(); ++i) {
    const GemmLayer& l = r.layers[i];
    nlohmann::json lj = {{"name", l.name}, {"type", l.type}, {"M", l.M}, {"K", l.K}, {"groups", l.groups},
                         {"gemm_flops", l.flops}, {"optimised", false}};
    for (size_t s = 0; s < L; ++s)
      if (r.optimised[s] == i) {
        lj["optimised"] = true;
        lj["variants"] = nlohmann::json::array();
        for (size_t k = 0; k < r.options[s].size(); ++k) {
          nlohmann::json vj = r.options[s][k].to_json();
          if (k > 0 && o.l1_baseline) {
            vj["l1_val_acc"] = r.l1_options[s][k].val_acc;
            vj["l1_val_acc_before_finetune"] = r.l1_options[s][k].val_acc_before;
          }
          if (k > 0 && paper_twin) {
            vj["paper_val_acc"] = r.paper_options[s][k].val_acc;
            vj["paper_val_acc_before_finetune"] = r.paper_options[s][k].val_acc_before;
          }
          const Variant& v = r.options[s][k];
          vj["speedup"] = (k == 0 ? v.time_ms : v.dense_time_ms) / v.time_ms;
          lj["variants"].push_back(vj);
        }
        const Variant& sel = r.options[s][size_t(r.frontier[r.selected].choice[s])];
        lj["selected"] = sel.id;
        lj["selected_density"] = sel.method == sve::Method::Dense ? 1.0 : sel.plan.density();
        lj["selected_speedup_alone"] = sel.method == sve::Method::Dense ? 1.0 : sel.dense_time_ms / sel.time_ms;
      }
    layers.push_back(lj);
  }
  j["layers"] = layers;
  j["points"] = nlohmann::json::array();
  for (const Point& p : r.points) j["points"].push_back(p.to_json());
  j["frontier"] = nlohmann::json::array();
  for (const Point& p : r.frontier) j["frontier"].push_back(p.to_json());
  j["selected"] = r.selected;
  // The accuracy criterion: the most accurate frontier point within
  // 0.2 points of the dense test accuracy, and its GEMM FLOPs.
  std::optional<size_t> within;
  for (size_t i = 0; i < r.frontier.size(); ++i)
    if (r.frontier[i].test_acc >= dense_test - 0.002 - 1e-9 &&
        (!within || r.frontier[i].flops_ratio < r.frontier[*within].flops_ratio))
      within = i;
  if (within)
    j["cheapest_within_0.2_points"] = {{"frontier_index", *within}, {"flops_ratio", r.frontier[*within].flops_ratio},
                                        {"test_acc", r.frontier[*within].test_acc},
                                        {"speedup", r.frontier[*within].speedup}};
  j["options"] = {{"alphas", o.alphas},
                  {"densities", o.alphas.empty() ? nlohmann::json(o.densities) : nlohmann::json()},
                  {"align", o.align},
                  {"granularity", granularity_name(o.granularity)},
                  {"transform", sve_transform_name(o.transform)},
                  {"method", sve::method_name(o.method)},
                  {"stats_images", o.stats_images},
                  {"ridge", o.ridge},
                  {"joint_points", o.joint_points},
                  {"joint_flops", o.joint_flops},
                  {"joint_flops_iterations", o.joint_flops_iterations},
                  {"max_grid", o.max_grid},
                  {"joint_iterations", o.joint.iterations},
                  {"joint_lr", o.joint.lr},
                  {"joint_lr_policy", o.joint.lr_policy},
                  {"joint_twins", joint_twins_name(o.joint_twins)},
                  {"finetune_iterations", o.finetune.iterations},
                  {"finetune_batch", o.finetune.batch},
                  {"finetune_lr", o.finetune.lr},
                  {"fission_formats", format_names(o.fission_formats)},
                  {"finetune_lr_policy", o.finetune.lr_policy},
                  {"distillation",
                   {{"teacher", "the dense model as given"},
                    {"variants", {{"weight", o.finetune.distill_weight}, {"temperature", o.finetune.distill_temperature}}},
                    {"joint", {{"weight", o.joint.distill_weight}, {"temperature", o.joint.distill_temperature}}}}},
                  {"seed", o.finetune.seed},
                  {"time_reps", o.time_reps},
                  {"time_rounds", o.time_rounds},
                  {"time_batch", dense.timing_batch},
                  {"time_statistic", timing_statistic_name(dense.statistic)},
                  {"include_input_layer", o.include_input_layer},
                  {"min_layer_flops", o.min_layer_flops}};
  return j;
}

}  // namespace deftnn::tune
