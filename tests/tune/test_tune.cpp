// The optimiser's pieces: the Pareto frontier and the selector on hand-made
// points; installing an SVE setting on a real net and restoring the dense one
// (bit-exact outputs); a variant with every vector kept equals the dense net.
#include <numeric>
#include <set>

#include "layers/gemm_layer.h"
#include "net/net.h"
#include "sve/plan.h"
#include "test_util.h"
#include "tune/frontier.h"
#include "train/distill.h"
#include "train/trainer.h"
#include "tune/optimize.h"
#include "tune/variants.h"

namespace deftnn::test {
namespace {

tune::Point pt(double t, double acc) {
  tune::Point p;
  p.time_ms = t;
  p.val_acc = acc;
  p.speedup = 10.0 / t;
  return p;
}

TEST(TuneFrontier, KeepsOnlyNonDominatedPointsFastestLast) {
  std::vector<tune::Point> pts = {pt(10, 0.90), pt(8, 0.895), pt(8, 0.88), pt(9, 0.85), pt(6, 0.87),
                                  pt(5, 0.80),  pt(6, 0.87)};
  auto f = tune::pareto_frontier(pts);
  ASSERT_EQ(f.size(), 4u);  // (10, .90) (8, .895) (6, .87) (5, .80); (6, .87) twice keeps one
  EXPECT_EQ(f[0].time_ms, 10);
  EXPECT_EQ(f[1].time_ms, 8);
  EXPECT_EQ(f[1].val_acc, 0.895);
  EXPECT_EQ(f[2].time_ms, 6);
  EXPECT_EQ(f[3].time_ms, 5);
}

TEST(TuneFrontier, SelectorNearestTarget) {
  auto f = tune::pareto_frontier({pt(10, 0.90), pt(8, 0.895), pt(6, 0.87), pt(5, 0.80)});
  EXPECT_EQ(tune::select_point(f, 0.89, std::nullopt), 1u);   // fastest with >= 89%
  EXPECT_EQ(tune::select_point(f, 0.95, std::nullopt), 0u);   // unreachable: most accurate
  EXPECT_EQ(tune::select_point(f, std::nullopt, 1.5), 2u);    // most accurate with >= 1.5x
  EXPECT_EQ(tune::select_point(f, std::nullopt, 9.0), 3u);    // unreachable: fastest
  EXPECT_EQ(tune::select_point(f, std::nullopt, std::nullopt), 0u);  // within 0.2 points of the best: only 90%
}

Net small_lenet() {
  nlohmann::json g = {{"name", "tiny"}, {"input", {1, 12, 12}}, {"classes", 10},
                      {"layers",
                       {{{"type", "conv"}, {"name", "conv1"}, {"out", 4}, {"kernel", 3}},
                        {{"type", "conv"}, {"name", "conv2"}, {"out", 6}, {"kernel", 3}},
                        {{"type", "linear"}, {"name", "ip1"}, {"out", 16}},
                        {{"type", "relu"}, {"name", "relu1"}},
                        {{"type", "linear"}, {"name", "ip2"}, {"out", 10}}}}};
  Net net = Net::from_graph(g, "tiny");
  net.init(3);
  return net;
}

TEST(TuneVariants, InstallAndRestoreIsBitExact) {
  auto ctx = Context::cpu();
  Net net = small_lenet();
  net.to(*ctx);
  auto layers = tune::gemm_layers(net);
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[1].K, 4 * 9);
  EXPECT_EQ(layers[2].K, 6 * 8 * 8);
  Tensor x = random_tensor({3, 1, 12, 12}, 5);
  auto dense_out = net.forward(*ctx, x, false).to_vector(*ctx);
  for (size_t li : {size_t(1), size_t(2), size_t(3)}) {
    const auto& l = layers[li];
    tune::LayerSetting dense = tune::capture(net, l, *ctx);
    // Every vector kept (identity plan through the layer's SVE path): same output.
    std::vector<int32_t> all(size_t(l.K));
    std::iota(all.begin(), all.end(), 0);
    auto id = sve::make_plan(l.K, all);
    tune::LayerSetting s;
    s.state = sve::make_state(id, SveTransform::Copy);
    s.weight = sve::apply_to_weight(id, dense.weight.reshape({l.M, l.K}));
    s.bias = dense.bias;
    tune::install(net, l, s, *ctx);
    EXPECT_EQ(net.forward(*ctx, x, false).to_vector(*ctx), dense_out) << l.name;
    // Half kept: the output changes; restoring dense gives the same bits back.
    std::vector<int32_t> half;
    for (int32_t k = 0; k < l.K; k += 2) half.push_back(k);
    auto p = sve::make_plan(l.K, half);
    s.state = sve::make_state(p, SveTransform::Swap);
    s.weight = sve::apply_to_weight(p, dense.weight.reshape({l.M, l.K}));
    tune::install(net, l, s, *ctx);
    EXPECT_NE(net.forward(*ctx, x, false).to_vector(*ctx), dense_out) << l.name;
    tune::install(net, l, dense, *ctx);
    EXPECT_EQ(net.forward(*ctx, x, false).to_vector(*ctx), dense_out) << l.name;
  }
}

// Images (n, 1, 12, 12) uniform in [-1, 1]; labels from a fixed random linear
// teacher, so a few hundred SGD steps can learn something.
data::Dataset teacher_data(int64_t n, uint64_t seed) {
  data::Dataset d;
  d.name = "synthetic";
  d.images = random_tensor({n, 1, 12, 12}, seed);
  d.labels = Tensor::empty({n}, DType::I32);
  std::vector<float> t = random_vector(10 * 144, 99);
  const float* x = d.images.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    int best = 0;
    double bv = -1e30;
    for (int c = 0; c < 10; ++c) {
      double v = 0;
      for (int k = 0; k < 144; ++k) v += double(t[size_t(c * 144 + k)]) * x[i * 144 + k];
      if (v > bv) bv = v, best = c;
    }
    d.labels.data<int32_t>()[i] = best;
  }
  return d;
}

TEST(TuneVariants, InputStatsOfFirstConvArePatchMoments) {
  auto ctx = Context::cpu();
  Net net = small_lenet();
  net.to(*ctx);
  auto layers = tune::gemm_layers(net);
  data::Dataset d = teacher_data(5, 7);
  sve::InputStats st = tune::layer_input_stats(net, *ctx, layers[0], d, 5);
  ASSERT_EQ(st.k, 9);
  EXPECT_EQ(st.count, 5 * 10 * 10);
  // Mean of patch offset (i, j) over every 3x3 window, fp64.
  auto mean = st.mean();
  const float* x = d.images.data<float>();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int n = 0; n < 5; ++n)
        for (int h = 0; h < 10; ++h)
          for (int w = 0; w < 10; ++w) s += x[n * 144 + (h + i) * 12 + (w + j)];
      EXPECT_NEAR(mean[size_t(i * 3 + j)], s / 500.0, 1e-9);
    }
  // A later layer: stats through the prefix (the linear layer's K features).
  sve::InputStats s2 = tune::layer_input_stats(net, *ctx, layers[2], d, 5);
  EXPECT_EQ(s2.k, 6 * 8 * 8);
  EXPECT_EQ(s2.count, 5);
}

TEST(TuneVariants, LeastSquaresVariantBeatsPaperScalingOnItsOwnInputs) {
  // ip1 at half density: the sve-ls variant fits the layer's output on the
  // statistics' images, so the net's logits there move less than with the
  // paper's K/K' scaling (no fine-tuning on either).
  auto ctx = Context::cpu();
  Net net = small_lenet();
  net.to(*ctx);
  auto layers = tune::gemm_layers(net);
  data::Dataset d = teacher_data(200, 8);
  const auto& l = layers[2];
  tune::LayerSetting dense = tune::capture(net, l, *ctx);
  Tensor x = d.images.slice0(0, 200);
  auto ref = net.forward(*ctx, x, false).to_vector(*ctx);
  sve::InputStats st = tune::layer_input_stats(net, *ctx, l, d, 200);
  sve::SearchResult sr;
  sr.k = l.K;
  for (int32_t k = 0; k < l.K; k += 2) sr.kept.push_back(k);
  tune::FinetuneOptions none;
  none.iterations = 0;
  double err[2];
  int i = 0;
  for (sve::Method m : {sve::Method::Sve, sve::Method::SveLs}) {
    const tune::VariantRequest req{.layer = l, .slot = 0, .dense = dense, .method = m, .search = sr,
                                   .transform = SveTransform::Copy, .stats = &st};
    tune::Variant v = tune::make_variant(net, *ctx, req, d, d, none);
    EXPECT_EQ(v.kept(), l.K / 2);
    tune::install(net, l, v.setting, *ctx);
    auto got = net.forward(*ctx, x, false).to_vector(*ctx);
    double e = 0;
    for (size_t k = 0; k < got.size(); ++k) e += (got[k] - ref[k]) * (got[k] - ref[k]);
    err[i++] = e;
    tune::install(net, l, dense, *ctx);
  }
  EXPECT_LT(err[1], err[0]) << "paper " << err[0] << ", least squares " << err[1];
}

TEST(TuneJoint, FinetuneAllLayersLowersValidationLoss) {
  auto ctx = Context::cpu();
  Net net = small_lenet();
  net.to(*ctx);
  data::Dataset train = teacher_data(640, 1), val = teacher_data(200, 2);
  const double before = train::evaluate(net, *ctx, val).loss;
  tune::FinetuneOptions ft;
  ft.iterations = 60;
  ft.batch = 32;
  ft.lr = 0.01;
  double s = tune::finetune(net, *ctx, train, ft, 0);
  EXPECT_GE(s, 0);
  const double after = train::evaluate(net, *ctx, val).loss;
  EXPECT_LT(after, before);
  // Frozen parameters stay as they are.
  std::vector<float> w0 = net.layer(0).params()[0]->value.to_vector(*ctx);
  for (Param* p : net.layer(0).params()) p->trainable = false;
  tune::finetune(net, *ctx, train, ft, 1);
  EXPECT_EQ(net.layer(0).params()[0]->value.to_vector(*ctx), w0);
}

TEST(TuneJoint, FinetuneDrawsEveryIterationBeyondOneEpochAndWantsTheTeacher) {
  // 50 iterations of 32 images from 640: more than two epochs' worth of
  // draws; the net must move as far as a run that never stops at one epoch
  // (the loss keeps falling), and distillation without a teacher is refused.
  auto ctx = Context::cpu();
  Net net = small_lenet();
  net.to(*ctx);
  data::Dataset train = teacher_data(640, 1);
  tune::FinetuneOptions ft;
  ft.iterations = 50;
  ft.batch = 32;
  ft.lr = 0.01;
  ft.lr_policy = "linear";
  ft.distill_weight = 0.5;
  EXPECT_THROW(tune::finetune(net, *ctx, train, ft, 0), Error);
  ft.teacher_logits = train::predict_logits(net, *ctx, train);
  ASSERT_EQ(ft.teacher_logits.shape(), (Shape{640, 10}));
  const double before = train::evaluate(net, *ctx, train).loss;
  tune::finetune(net, *ctx, train, ft, 0);
  EXPECT_LT(train::evaluate(net, *ctx, train).loss, before);
  ft.lr_policy = "cosine";
  EXPECT_THROW(tune::finetune(net, *ctx, train, ft, 0), Error);
}

// The whole optimiser on the tiny net: variants, both greedy paths, the
// interleaved timing, joint points chosen by FLOPs with distillation, the
// frontier and the report's records of what was done.
TEST(TuneOptimize, TinyEndToEnd) {
  auto ctx = Context::cpu();
  Net net = small_lenet();
  net.to(*ctx);
  train::PreparedData d;
  d.train = teacher_data(512, 11);
  d.val = teacher_data(128, 12);
  d.test = teacher_data(128, 13);
  tune::OptimizeOptions o;
  o.densities = {0.75, 0.5};
  o.finetune.iterations = 4;
  o.finetune.batch = 16;
  o.finetune.distill_weight = 0.5;
  o.joint.iterations = 6;
  o.joint.batch = 16;
  o.joint.lr_policy = "linear";
  o.joint.distill_weight = 0.5;
  o.joint.distill_temperature = 3;
  o.joint_flops = {0.9, 0.6, 0.6};
  o.joint_flops_iterations = {8};  // the 0.9 point; the others take joint.iterations
  o.stats_images = 64;
  o.time_rounds = 2;
  o.time_reps = 1;
  o.time_batch = 8;
  tune::OptimizeResult r = tune::optimize(net, *ctx, d, o);
  const nlohmann::json& j = r.report;
  EXPECT_EQ(j["options"]["distillation"]["joint"]["weight"], 0.5);
  EXPECT_EQ(j["options"]["distillation"]["joint"]["temperature"], 3);
  EXPECT_EQ(j["options"]["distillation"]["variants"]["weight"], 0.5);
  EXPECT_EQ(j["options"]["joint_lr_policy"], "linear");
  EXPECT_EQ(j["options"]["time_rounds"], 2);
  EXPECT_EQ(j["options"]["time_statistic"], "min");
  // conv2 and ip1 optimised, each dense + 2 variants, timed alone; ip2 has
  // 320 of the 47456 GEMM FLOPs (0.7% < min_layer_flops 1%) and stays dense.
  ASSERT_EQ(r.optimised.size(), 2u);
  EXPECT_EQ(r.layers[r.optimised[0]].name, "conv2");
  EXPECT_EQ(r.layers[r.optimised[1]].name, "ip1");
  ASSERT_EQ(r.options.size(), 2u);
  for (const auto& opts : r.options) {
    ASSERT_EQ(opts.size(), 3u);
    for (const auto& v : opts) EXPECT_GT(v.time_ms, 0) << v.id;
  }
  // 2 layers x 3 options: the whole grid of 9 compositions, then the joints.
  EXPECT_EQ(r.points.size(), 9u + r.tuned.size());
  int joint = 0;
  for (const tune::Point& p : r.points) {
    EXPECT_GT(p.time_ms, 0);
    EXPECT_NEAR(p.speedup, r.points.front().time_ms / p.time_ms, 1e-12);
    if (p.how != "joint") continue;
    ++joint;
    EXPECT_GE(p.test_acc, 0);  // every joint point gets its test accuracy
    EXPECT_EQ(p.joint_iterations, p.tuned == 0 ? 8 : 6);
    // Same shapes as its composition: the same time.
    for (const tune::Point& q : r.points)
      if (q.how != "joint" && q.choice == p.choice) EXPECT_EQ(q.time_ms, p.time_ms);
  }
  // Caps 0.9 and 0.6 (the second 0.6 is the same composition): at most two,
  // each the most accurate composition within its cap.
  EXPECT_GE(joint, 1);
  EXPECT_LE(joint, 2);
  EXPECT_EQ(r.tuned.size(), size_t(joint));
  // Twins: composed points report the L1 and paper twins; joint points only
  // the L1 twin (joint_twins "l1"), jointly fine-tuned.
  for (const tune::Point& p : r.frontier) {
    EXPECT_GE(p.l1_test_acc, 0);
    if (p.how == "joint") EXPECT_LT(p.paper_test_acc, 0);
    else EXPECT_GE(p.paper_test_acc, 0);
  }
  // Above max_grid: the greedy paths (time and FLOPs) and the uniform levels.
  o.max_grid = 4;
  o.joint_flops.clear();
  o.joint_points = 1;
  Net net2 = small_lenet();
  net2.to(*ctx);
  tune::OptimizeResult g = tune::optimize(net2, *ctx, d, o);
  std::set<std::string> hows;
  for (const tune::Point& p : g.points) hows.insert(p.how);
  // (uniform levels here lie on the greedy paths, which measured them first;
  // the FLOPs-scored path may retrace the time-scored one when the measured
  // times order the moves the same way, which load on the machine can cause,
  // so only the time-scored path, walked first, is sure to add points)
  for (const char* h : {"dense", "greedy", "joint"}) EXPECT_EQ(hows.count(h), 1u) << h;
  EXPECT_EQ(hows.count("grid"), 0u);
  for (size_t i = 1; i < r.frontier.size(); ++i) EXPECT_LT(r.frontier[i].time_ms, r.frontier[i - 1].time_ms);
}

// A small end-to-end optimisation of the tiny net on synthetic data.
tune::OptimizeOptions tiny_options() {
  tune::OptimizeOptions o;
  o.densities = {0.5};
  o.method = sve::Method::Sve;
  o.paper_baseline = false;
  o.l1_baseline = false;
  o.finetune.iterations = 5;
  o.finetune.batch = 16;
  o.joint_points = 0;
  o.joint_flops = {};
  o.time_reps = 2;
  o.time_batch = 32;
  return o;
}

TEST(TuneFission, FormatsNeedTheGpu) {
  auto ctx = Context::cpu();
  Net net = small_lenet();
  net.to(*ctx);
  train::PreparedData d{teacher_data(96, 1), teacher_data(48, 2), teacher_data(48, 3), {}};
  tune::OptimizeOptions o = tiny_options();
  o.fission_formats = {Format{FormatKind::Deft16Q}};
  try {
    tune::optimize(net, *ctx, d, o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const char* part : {"fission formats", "deft16q", "GPU"})
      EXPECT_NE(m.find(part), std::string::npos) << "message lacks '" << part << "': " << m;
  }
}

// On the GPU every fp32 frontier point is measured again per format; a format
// point installs that format on every GEMM layer (and a fp32 point resets it).
TEST(TuneFission, FormatPointsOnTheGpu) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  Net net = small_lenet();
  net.to(*ctx);
  train::PreparedData d{teacher_data(96, 1), teacher_data(48, 2), teacher_data(48, 3), {}};
  tune::OptimizeOptions o = tiny_options();
  o.fission_formats = {Format{FormatKind::Deft16Q}, Format{FormatKind::FP8E4M3}};
  tune::OptimizeResult r = tune::optimize(net, *ctx, d, o);
  size_t fp32 = 0, d16q = 0, fp8 = 0;
  for (const tune::Point& p : r.points) {
    const std::string f = p.format.name();
    (f == "fp32" ? fp32 : f == "deft16q" ? d16q : fp8)++;
    EXPECT_GT(p.time_ms, 0);
    EXPECT_GE(p.val_acc, 0);
    EXPECT_LE(p.val_acc, 1);
    if (f != "fp32") EXPECT_NE(p.how.find("+" + f), std::string::npos) << p.how;
  }
  EXPECT_GT(fp32, 0u);
  EXPECT_GT(d16q, 0u);
  EXPECT_EQ(d16q, fp8);  // each format over the same fp32 frontier
  EXPECT_EQ(r.report["options"]["fission_formats"], nlohmann::json({"deft16q", "fp8e4m3"}));
  for (const tune::Point& p : r.points) {
    if (p.format.kind == FormatKind::FP32) continue;
    tune::install_point(net, *ctx, r, p);
    for (const auto& l : r.layers) EXPECT_EQ(net.layer(l.index).as_gemm()->exec().format, p.format);
    // The net runs with it and its accuracy is the point's.
    EXPECT_NEAR(train::evaluate(net, *ctx, d.val).accuracy, p.val_acc, 1e-9);
    tune::install_point(net, *ctx, r, r.points.front());
    for (const auto& l : r.layers) EXPECT_EQ(net.layer(l.index).as_gemm()->exec(), LayerExec{});
    break;
  }
}

}  // namespace
}  // namespace deftnn::test
