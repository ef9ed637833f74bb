// The network benchmark end to end on the CPU: LeNet-5 from models/lenet.json,
// a tiny batch and few repetitions, then its report.
#include <gtest/gtest.h>

#include "bench/net_bench.h"
#include "layers/gemm_layer.h"
#include "net/net.h"
#include "plan/apply.h"
#include "plan/parse.h"
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
  plan::apply_plan(net, baseline_plan(*ctx), ctx->device());
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
  EXPECT_EQ(run.layers[0].backend, "cpu-blas");
  EXPECT_EQ(run.layers[0].format, "fp32");
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
  NetBenchOptions opt;
  opt.batch = 1;
  opt.timer = TimerOptions{1, 3, false};
  auto [b, c] = bench_compare(*ctx, base, cand, "lenet", cfg, opt);
  EXPECT_EQ(b.tag, "fp32-cpublas");
  EXPECT_EQ(c.tag, "asloaded");
  nlohmann::json j = report_json({b, c}, opt, nlohmann::json::object());
  EXPECT_GT(j["speedup"].get<double>(), 0);
}

// The bench's flags go through the plan's door; errors name the layer.
TEST(BenchNet, PlanErrorsNameTheLayer) {
  Net net = lenet();
  auto flags = [](std::vector<std::string> format, std::string kernel) {
    plan::PlanFlags f;
    f.format = std::move(format);
    f.kernel = std::move(kernel);
    return f;
  };
  EXPECT_THROW(plan::apply_plan(net, plan::from_flags(flags({"nosuch=deft16"}, "")), Device::CUDA), Error);
  EXPECT_THROW(plan::apply_plan(net, plan::from_flags(flags({"pool1=deft16"}, "")), Device::CUDA), Error);
  EXPECT_THROW(plan::from_flags(flags({}, "warp-drive")), Error);
  plan::apply_plan(net, plan::from_flags(flags({"conv1=deft16", "ip1=deft8e4"}, "fission")), Device::CUDA);
  EXPECT_EQ(net.find("conv1")->as_gemm()->exec().format.name(), "deft16");
  EXPECT_EQ(net.find("ip1")->as_gemm()->exec().format.name(), "deft8e4");
  EXPECT_EQ(net.find("conv2")->as_gemm()->exec().format.name(), "fp32");
  EXPECT_EQ(net.find("conv2")->as_gemm()->exec().kernel, KernelFamily::Fission);
}
