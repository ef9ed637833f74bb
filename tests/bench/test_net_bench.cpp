// The network benchmark end to end on the CPU: LeNet-5 from models/lenet.json,
// a tiny batch and few repetitions, then its report.
#include <gtest/gtest.h>

#include "bench/net_bench.h"
#include "net/net.h"
#include "test_util.h"

using namespace deftnn;
using namespace deftnn::bench;

namespace {
Net lenet() {
  Net net = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/lenet.json");
  net.init(1);
  return net;
}
}  // namespace

TEST(BenchNet, LeNetOnCpuTimesEveryLayerAndWritesAReport) {
  auto ctx = Context::cpu();
  Net net = lenet();
  NetConfig cfg = baseline_config(*ctx);
  EXPECT_EQ(cfg.tag, "fp32-cpublas");
  apply_config(net, cfg);
  NetBenchOptions opt;
  opt.batch = 2;
  opt.timer = TimerOptions{1, 3, true};
  NetRun run = bench_net(*ctx, net, "lenet", cfg, opt);
  ASSERT_EQ(run.layers.size(), net.size());
  EXPECT_EQ(run.total_method, "steady-clock");
  EXPECT_EQ(run.total.reps, 3);
  EXPECT_GT(run.total.median_ms, 0);
  EXPECT_EQ(run.layers[0].name, "conv1");
  EXPECT_EQ(run.layers[0].out_shape, (Shape{2, 20, 24, 24}));
  EXPECT_EQ(run.layers[0].time.reps, 3);
  EXPECT_EQ(run.layers.back().out_shape, (Shape{2, 10}));
  nlohmann::json j = report_json({run}, opt, environment(*ctx));
  EXPECT_EQ(j["runs"][0]["layers"].size(), net.size());
  EXPECT_EQ(j["batch"], 2);
}

TEST(BenchNet, LeNetCompareOnCpuGivesASpeedupNearOne) {
  auto ctx = Context::cpu();
  Net base = lenet(), cand = lenet();
  NetConfig cfg;
  cfg.tag = "asloaded";
  apply_config(cand, cfg);
  NetBenchOptions opt;
  opt.batch = 1;
  opt.timer = TimerOptions{1, 3, false};
  auto [b, c] = bench_compare(*ctx, base, cand, "lenet", cfg, opt);
  EXPECT_EQ(b.tag, "fp32-cpublas");
  EXPECT_EQ(c.tag, "asloaded");
  nlohmann::json j = report_json({b, c}, opt, nlohmann::json::object());
  EXPECT_GT(j["speedup"].get<double>(), 0);
}

TEST(BenchNet, ConfigErrorsNameTheLayer) {
  Net net = lenet();
  EXPECT_THROW(apply_config(net, NetConfig{"x", "", "nosuch=deft16"}), Error);
  EXPECT_THROW(apply_config(net, NetConfig{"x", "", "pool1=deft16"}), Error);
  EXPECT_THROW(apply_config(net, NetConfig{"x", "warp-drive", ""}), Error);
  apply_config(net, NetConfig{"x", "fission", "conv1=deft16,ip1=deft8e4"});
  EXPECT_EQ(net.find("conv1")->gemm_config.format.name(), "deft16");
  EXPECT_EQ(net.find("ip1")->gemm_config.format.name(), "deft8e4");
  EXPECT_EQ(net.find("conv2")->gemm_config.format.name(), "fp32");
  EXPECT_EQ(net.find("conv2")->gemm_config.backend, GemmBackend::Fission);
}
