// The optimiser's stages on typed, hand-made inputs: which layers are
// eligible, the kept count of a density, which compositions get joint
// fine-tuning, and the report of a hand-made result.
#include <gtest/gtest.h>

#include "tune/baseline.h"
#include "tune/joint.h"
#include "tune/layer_options.h"
#include "tune/report.h"
#include "tune/twins.h"

namespace deftnn::test {
namespace {

tune::GemmLayer layer(const std::string& type, int64_t flops) {
  tune::GemmLayer l;
  l.name = type + std::to_string(flops);
  l.type = type;
  l.flops = flops;
  return l;
}

tune::Point composed(std::vector<int> choice, double acc, double flops, double ms, const std::string& how = "greedy") {
  tune::Point p;
  p.choice = std::move(choice);
  p.val_acc = acc;
  p.flops_ratio = flops;
  p.time_ms = ms;
  p.speedup = 10 / ms;
  p.how = how;
  return p;
}

TEST(TuneStages, JointPicksByFlopsCapsMostAccurateWithinEachOnce) {
  std::vector<tune::Point> pts = {composed({0, 0}, 0.90, 1.0, 10, "dense"), composed({1, 0}, 0.89, 0.7, 8),
                                  composed({1, 1}, 0.88, 0.55, 7), composed({2, 1}, 0.86, 0.45, 6),
                                  composed({2, 2}, 0.80, 0.30, 5), composed({0, 2}, 0.86, 0.45, 6.5)};
  tune::OptimizeOptions o;
  o.joint_flops = {0.6, 0.5, 0.46, 0.1};
  o.joint_flops_iterations = {100, 0};
  o.joint.iterations = 7;
  auto pick = tune::pick_joint_points(pts, o);
  // 0.6: (1,1) at 100 iterations; 0.5: 0 iterations, skipped; 0.46: (2,1) and
  // (0,2) tie on accuracy and FLOPs, the first is kept, at joint.iterations;
  // 0.1: nothing within.
  ASSERT_EQ(pick.size(), 2u);
  EXPECT_EQ(pick[0].choice, (std::vector<int>{1, 1}));
  EXPECT_EQ(pick[0].joint_iterations, 100);
  EXPECT_EQ(pick[1].choice, (std::vector<int>{2, 1}));
  EXPECT_EQ(pick[1].joint_iterations, 7);
  // A cap met by the same composition as an earlier one is taken once.
  o.joint_flops = {0.6, 0.58};
  o.joint_flops_iterations = {};
  pick = tune::pick_joint_points(pts, o);
  ASSERT_EQ(pick.size(), 1u);
  EXPECT_EQ(pick[0].joint_iterations, 7);
}

TEST(TuneStages, JointPicksSpreadOverComposedFrontierWithoutCaps) {
  std::vector<tune::Point> pts = {composed({0, 0}, 0.90, 1.0, 10, "dense"), composed({1, 0}, 0.89, 0.7, 8),
                                  composed({1, 1}, 0.88, 0.55, 7), composed({2, 1}, 0.86, 0.45, 6),
                                  composed({2, 2}, 0.80, 0.30, 5), composed({0, 2}, 0.70, 0.45, 9)};
  tune::OptimizeOptions o;
  o.joint_flops = {};
  o.joint.iterations = 11;
  o.joint_points = 2;
  // The composed frontier without the dense point: (1,0) (1,1) (2,1) (2,2),
  // slowest first; two picks: its ends.
  auto pick = tune::pick_joint_points(pts, o);
  ASSERT_EQ(pick.size(), 2u);
  EXPECT_EQ(pick[0].choice, (std::vector<int>{1, 0}));
  EXPECT_EQ(pick[1].choice, (std::vector<int>{2, 2}));
  EXPECT_EQ(pick[1].joint_iterations, 11);
  o.joint.iterations = 0;  // off
  EXPECT_TRUE(tune::pick_joint_points(pts, o).empty());
}

TEST(TuneTwins, JointTwinsNamesRoundTripAndSayWhichTwinsAreTuned) {
  using tune::JointTwins, tune::Twin;
  for (JointTwins j : {JointTwins::L1, JointTwins::All, JointTwins::None})
    EXPECT_EQ(tune::parse_joint_twins(tune::joint_twins_name(j)), j) << tune::joint_twins_name(j);
  EXPECT_STREQ(tune::joint_twins_name(JointTwins::All), "all");
  try {
    tune::parse_joint_twins("paper");
    ADD_FAILURE() << "joint twins 'paper' accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "unknown joint twins 'paper' (known: l1, all, none)");
  }
  EXPECT_TRUE(tune::jointly_tuned(JointTwins::L1, Twin::L1));
  EXPECT_FALSE(tune::jointly_tuned(JointTwins::L1, Twin::Paper));
  EXPECT_TRUE(tune::jointly_tuned(JointTwins::All, Twin::Paper));
  EXPECT_FALSE(tune::jointly_tuned(JointTwins::None, Twin::L1));
}

TEST(TuneStages, ReportOfAHandMadeResult) {
  // Two GEMM layers, the second optimised with one variant (half its K kept,
  // its L1 twin beside it); three points, two on the frontier.
  tune::OptimizeResult r;
  r.layers = {layer("conv", 300), layer("linear", 700)};
  r.layers[1].K = 8;
  r.optimised = {1};
  tune::Variant dense, half, l1;
  dense.id = "linear700/dense";
  dense.method = sve::Method::Dense;
  dense.val_acc = 0.9;
  dense.time_ms = 4;
  half.id = "linear700/sve-ls@0.5000";
  half.method = sve::Method::SveLs;
  half.plan = sve::make_plan(8, {0, 2, 4, 6}, false);
  half.val_acc = 0.88;
  half.time_ms = 2;
  half.dense_time_ms = 4;
  l1 = half;
  l1.method = sve::Method::L1;
  l1.val_acc = 0.85;
  l1.val_acc_before = 0.5;
  r.options = {{dense, half}};
  r.l1_options = {{dense, l1}};
  r.paper_options = {{dense}};
  tune::Point pd = composed({0}, 0.9, 1.0, 4, "dense"), ph = composed({1}, 0.88, 0.65, 2, "grid");
  pd.test_acc = 0.895;
  ph.test_acc = 0.894;  // within 0.2 points of the dense test accuracy
  r.points = {pd, ph, composed({1}, 0.80, 0.65, 3, "joint")};
  r.frontier = {pd, ph};
  r.selected = 1;
  tune::OptimizeOptions o;
  o.paper_baseline = false;
  tune::DenseSummary dense_summary;
  dense_summary.model = "m";
  dense_summary.device = "cpu";
  dense_summary.val_acc = 0.9;
  dense_summary.test_acc = 0.895;
  dense_summary.time_ms = 4;
  dense_summary.gemm_flops = 1000;
  dense_summary.timing_batch = 64;
  nlohmann::json j = tune::optimize_report(r, o, dense_summary);

  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["dense"]["gemm_flops"], 1000);
  EXPECT_EQ(j["dense"]["timing_batch"], 64);
  EXPECT_EQ(j["options"]["time_statistic"], "min");
  EXPECT_EQ(j["options"]["time_batch"], 64);
  ASSERT_EQ(j["layers"].size(), 2u);
  EXPECT_EQ(j["layers"][0]["optimised"], false);
  const auto& lj = j["layers"][1];
  EXPECT_EQ(lj["optimised"], true);
  ASSERT_EQ(lj["variants"].size(), 2u);
  EXPECT_DOUBLE_EQ(lj["variants"][0]["speedup"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(lj["variants"][1]["speedup"].get<double>(), 2.0);  // dense 4 ms / 2 ms
  EXPECT_DOUBLE_EQ(lj["variants"][1]["l1_val_acc"].get<double>(), 0.85);
  EXPECT_DOUBLE_EQ(lj["variants"][1]["l1_val_acc_before_finetune"].get<double>(), 0.5);
  EXPECT_FALSE(lj["variants"][1].contains("paper_val_acc"));
  EXPECT_EQ(lj["selected"], half.id);
  EXPECT_DOUBLE_EQ(lj["selected_density"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(lj["selected_speedup_alone"].get<double>(), 2.0);
  EXPECT_EQ(j["points"].size(), 3u);
  EXPECT_EQ(j["frontier"].size(), 2u);
  EXPECT_EQ(j["selected"], 1);
  EXPECT_EQ(j["cheapest_within_0.2_points"]["frontier_index"], 1);
  EXPECT_DOUBLE_EQ(j["cheapest_within_0.2_points"]["flops_ratio"].get<double>(), 0.65);
  EXPECT_FALSE(j.contains("seconds"));  // the caller adds it
}

}  // namespace
}  // namespace deftnn::test
