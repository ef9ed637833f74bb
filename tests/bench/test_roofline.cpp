// Layers placed on a synthetic roofline (bench/roofline.h): which ceiling
// binds, the share of it reached, the launch floor, and the report's shape;
// on a GPU, the ceilings measured and a small net placed end to end.
#include <gtest/gtest.h>

#include "bench/net_bench.h"
#include "bench/roofline.h"
#include "core/context.h"
#include "net/net.h"
#include "plan/apply.h"
#include "test_util.h"

using namespace deftnn;
using namespace deftnn::bench;

namespace {

// 1 TB/s HBM (read 1.0, copy 0.8), 10 TFLOP/s fp32, 100 bf16; a 5 us launch floor.
Ceilings ceilings() {
  Ceilings c;
  c.hbm_read_bytes_per_s = 1e12;
  c.hbm_copy_bytes_per_s = 0.8e12;
  c.fp32_flops = 1e13;
  c.bf16_flops = 1e14;
  c.launch_floor_ms = 0.005;
  c.gemm_n = 8192;
  return c;
}

LayerTraffic gemm(const std::string& name, int64_t flops, int64_t bytes, const std::string& compute) {
  LayerTraffic t;
  t.name = name;
  t.type = "conv";
  t.gemm = true;
  t.flops = flops;
  t.input_bytes = bytes;
  t.intermediate_bytes = bytes;
  t.compute = compute;
  return t;
}

}  // namespace

TEST(Roofline, TensorCoreBoundLayer) {
  // 1 GFLOP over 1 MB: HBM allows 0.001 ms, bf16 0.01 ms: compute binds.
  const Placement p = place_layer(gemm("a", 1000000000, 1000000, "bf16"), 0.02, 2, ceilings());
  EXPECT_EQ(p.bound, "compute");
  EXPECT_EQ(p.label, "tensor-core");
  EXPECT_DOUBLE_EQ(p.memory_ms, 0.001);
  EXPECT_DOUBLE_EQ(p.engine_memory_ms, 0.002);
  EXPECT_DOUBLE_EQ(p.compute_ms, 0.01);
  EXPECT_DOUBLE_EQ(p.pct_of_bound, 50.0);
  EXPECT_DOUBLE_EQ(p.intensity, 1000.0);
  EXPECT_DOUBLE_EQ(p.engine_intensity, 500.0);
  EXPECT_DOUBLE_EQ(p.achieved_flops_per_s, 5e13);
  EXPECT_DOUBLE_EQ(p.launch_floor_ms, 0.01);  // two kernels
}

TEST(Roofline, HbmAndFp32BoundLayers) {
  // 1 MFLOP over 100 MB: HBM 0.1 ms against fp32's 0.0001 ms.
  const Placement h = place_layer(gemm("b", 1000000, 100000000, "fp32"), 0.2, 1, ceilings());
  EXPECT_EQ(h.label, "HBM");
  EXPECT_DOUBLE_EQ(h.pct_of_bound, 50.0);
  EXPECT_DOUBLE_EQ(h.achieved_bytes_per_s, 5e11);
  // 10 GFLOP over 1 MB in fp32: 1 ms of FFMA.
  const Placement f = place_layer(gemm("c", 10000000000, 1000000, "fp32"), 4.0, 1, ceilings());
  EXPECT_EQ(f.label, "FP32 FMA");
  EXPECT_DOUBLE_EQ(f.pct_of_bound, 25.0);
}

TEST(Roofline, LaunchFloorNonGemmAndNoWork) {
  // Within 1.5 floors of a layer of two kernels (2 x 5 us): launch-bound.
  EXPECT_EQ(place_layer(gemm("d", 1000, 1000, "bf16"), 0.014, 2, ceilings()).label, "launch");
  EXPECT_EQ(place_layer(gemm("d", 1000, 1000, "bf16"), 0.016, 2, ceilings()).label, "HBM");
  // No kernel count (CUPTI off): one floor.
  EXPECT_EQ(place_layer(gemm("d", 1000, 1000, "bf16"), 0.007, 0, ceilings()).label, "launch");
  LayerTraffic pool;
  pool.name = "pool";
  pool.input_bytes = 1000000;
  EXPECT_EQ(place_layer(pool, 0.05, 1, ceilings()).label, "non-GEMM");
  LayerTraffic relu;
  relu.step = StepKind::Fused;
  EXPECT_EQ(place_layer(relu, 0.001, 0, ceilings()).label, "fused");
  relu.step = StepKind::Skip;
  EXPECT_EQ(place_layer(relu, 0.001, 0, ceilings()).label, "skipped");
  EXPECT_EQ(place_layer(gemm("e", 1, 1, "bf16"), 0.0, 1, ceilings()).label, "untimed");
}

TEST(Roofline, UnmeasuredComputeCeilingLeavesHbm) {
  // fp8 not measured (fp8_flops 0): only the HBM bound is known.
  const Placement p = place_layer(gemm("f", 1000000000, 1000000, "fp8e4m3"), 0.02, 1, ceilings());
  EXPECT_EQ(p.compute_ms, 0.0);
  EXPECT_EQ(p.label, "HBM");
}

TEST(Roofline, ReportJsonPlacedAndSkipped) {
  std::vector<LayerTraffic> traffic = {gemm("conv1", 1000000000, 1000000, "bf16")};
  NetRun run;
  run.model = "m";
  run.batch = 4;
  run.tag = "dense";
  LayerResult l;
  l.name = "conv1";
  l.time = summarize({0.02, 0.02, 0.02});
  l.kernels = {{"k1", 1, 1.0}, {"k2", 1, 1.0}};
  run.layers = {l};
  run.total = summarize({0.03});
  NetConfig cfg;
  cfg.tag = "dense";
  const Ceilings c = ceilings();
  nlohmann::json j = roofline_report_json(traffic, &run, &c, "m", 4, cfg, NetBenchOptions{}, {{"commit", "x"}},
                                          nlohmann::json::object(), "");
  EXPECT_EQ(j["schema"], "deftnn.bench.roofline/1");
  EXPECT_TRUE(j["skipped"].is_null());
  EXPECT_DOUBLE_EQ(j["ceilings"]["hbm_bytes_per_s"].get<double>(), 1e12);
  const auto& L = j["roofline"]["layers"][0];
  EXPECT_EQ(L["label"], "tensor-core");
  EXPECT_EQ(L["kernels"], 2);
  EXPECT_DOUBLE_EQ(L["pct_of_bound"].get<double>(), 50.0);
  EXPECT_EQ(L["compulsory_bytes"], 1000000);
  EXPECT_EQ(j["runs"][0]["tag"], "dense");

  nlohmann::json s = roofline_report_json(traffic, nullptr, nullptr, "m", 4, cfg, NetBenchOptions{}, {}, {},
                                          "the roofline needs a GPU");
  EXPECT_TRUE(s["ceilings"].is_null());
  EXPECT_EQ(s["skipped"], "the roofline needs a GPU");
  EXPECT_FALSE(s["roofline"]["layers"][0].contains("label"));
  EXPECT_EQ(s["roofline"]["layers"][0]["flops"], 1000000000);
  // A run without ceilings and no reason, or a reason with a run, is a caller's bug.
  EXPECT_THROW(roofline_report_json(traffic, &run, nullptr, "m", 4, cfg, {}, {}, {}, ""), Error);
  // Counted and timed layers must be the same layers.
  run.layers[0].name = "other";
  EXPECT_THROW(roofline_report_json(traffic, &run, &c, "m", 4, cfg, {}, {}, {}, ""), Error);
  EXPECT_EQ(roofline_file_name("caffenet-imc", 128, "bf16", "20261207T000000Z"),
            "roofline-caffenet-imc-b128-bf16-20261207T000000Z.json");
}

TEST(Roofline, CeilingsJsonRoundTrip) {
  Ceilings c = ceilings();
  c.fp8_error = "no fp8 here";
  const Ceilings r = ceilings_from_json(to_json(c));
  EXPECT_DOUBLE_EQ(r.hbm_bytes_per_s(), 1e12);
  EXPECT_DOUBLE_EQ(r.hbm_copy_bytes_per_s, 0.8e12);
  EXPECT_DOUBLE_EQ(r.compute_flops("bf16"), 1e14);
  EXPECT_DOUBLE_EQ(r.compute_flops("fp32"), 1e13);
  EXPECT_EQ(r.compute_flops("int4"), 0.0);
  EXPECT_EQ(r.fp8_error, "no fp8 here");
  EXPECT_EQ(r.launch_floor_ms, 0.005);
}

TEST(Roofline, TableNamesWhatBinds) {
  std::vector<LayerTraffic> traffic = {gemm("conv1", 1000000000, 1000000, "bf16")};
  LayerTraffic relu;
  relu.name = "relu1";
  relu.step = StepKind::Fused;
  traffic.push_back(relu);
  const std::string counts = format_roofline_table(traffic, nullptr, nullptr);
  EXPECT_NE(counts.find("conv1"), std::string::npos);
  EXPECT_NE(counts.find("relu1      (fused)"), std::string::npos);
  EXPECT_EQ(counts.find("binds"), std::string::npos);
}

// On a GPU: the ceilings at a small size are positive and ordered as the
// hardware orders them, and a small net placed end to end gets a label for
// every layer it runs.
TEST(RooflineGpu, CeilingsAreMeasuredAndOrdered) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  CeilingOptions o;
  o.gemm_n = 1024;  // small: the order of the peaks, not their size (and quick under memcheck)
  o.warmup = 1, o.reps = 3, o.launch_reps = 3;
  o.hbm_l2_multiple = 1, o.hbm_min_half_bytes = size_t(8) << 20;  // an L2's worth: quick, and sane enough here
  const Ceilings c = measure_ceilings(*ctx, o);
  EXPECT_GT(c.hbm_read_bytes_per_s, 1e10);
  EXPECT_GT(c.hbm_copy_bytes_per_s, 1e10);
  EXPECT_GT(c.fp32_flops, 1e11);
  EXPECT_GT(c.bf16_flops, c.fp32_flops);  // tensor cores beat FFMA even at n = 1024
  EXPECT_GT(c.tf32_flops, 0);
  EXPECT_GT(c.ffma_probe_flops, 0);
  EXPECT_TRUE(c.fp8_flops > 0 || !c.fp8_error.empty());
  EXPECT_GT(c.launch_floor_ms, 0);
  EXPECT_LT(c.launch_floor_ms, 1.0);
  EXPECT_GE(c.hbm_buffer_bytes, size_t(16) << 20);
}

TEST(RooflineGpu, LeNetPlacedEndToEnd) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  Net net = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/lenet.json");
  net.init(1);
  ExecPlan p;
  p.defaults.precision = Precision::BF16;
  plan::apply_plan(net, p, ctx->device());
  NetBenchOptions opt;
  opt.batch = 8;
  opt.timer = TimerOptions{2, 5, true};
  NetConfig cfg;
  cfg.tag = "bf16";
  CeilingOptions co;
  co.gemm_n = 1024, co.warmup = 1, co.reps = 3, co.launch_reps = 3;
  co.hbm_l2_multiple = 1, co.hbm_min_half_bytes = size_t(8) << 20;
  const Ceilings c = measure_ceilings(*ctx, co);
  const NetRun run = bench_net(*ctx, net, "lenet", cfg, opt);
  const std::vector<LayerTraffic> t = net_traffic(*ctx, net, opt.batch);
  ASSERT_EQ(t.size(), run.layers.size());
  EXPECT_EQ(t[0].compute, "bf16");
  EXPECT_EQ(t[0].weight_storage, "bf16");
  const nlohmann::json j = roofline_layers_json(t, &run, &c);
  for (const auto& l : j) {
    ASSERT_TRUE(l.contains("label")) << l.dump();
    if (l["step"] == "run") {
      EXPECT_GT(l["time_ms"].get<double>(), 0) << l["name"];
      EXPECT_NE(l["label"], "untimed") << l["name"];
    }
  }
}
