// The benchmark harness: the CPU timing path (built on core/timing.h, whose
// statistics tests/core/test_timing.cpp checks), the all-zero guard, and the JSON report's schema on a synthetic run.
#include <gtest/gtest.h>

#include <limits>

#include "bench/kernel_names.h"
#include "bench/net_report.h"
#include "bench/timer.h"
#include "gemm/gemm.h"
#include "test_util.h"

using namespace deftnn;
using namespace deftnn::bench;

TEST(BenchTimer, CpuRunsWarmupThenReps) {
  auto ctx = Context::cpu();
  int calls = 0;
  TimingStats s = time_fn(*ctx, [&] { ++calls; }, TimerOptions{3, 7, true});
  EXPECT_EQ(calls, 10);
  EXPECT_EQ(s.reps, 7);
  EXPECT_EQ(s.samples_ms.size(), 7u);
  for (double ms : s.samples_ms) EXPECT_GE(ms, 0);
}

TEST(BenchTimer, InterleavedRunsEachCallableOncePerRound) {
  auto ctx = Context::cpu();
  std::string order;
  auto stats = time_interleaved(*ctx, {[&] { order += 'a'; }, [&] { order += 'b'; }}, TimerOptions{1, 3, false});
  EXPECT_EQ(order, "abababab");
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].reps, 3);
  EXPECT_EQ(stats[1].reps, 3);
}

TEST(BenchTimer, CpuSegmentsTimeConsecutiveWork) {
  auto ctx = Context::cpu();
  SegmentTimer t(*ctx, 2);
  t.start();
  volatile double sink = 0;
  for (int i = 0; i < 2000000; ++i) sink = sink + 1e-9 * i;
  t.mark(0);
  t.mark(1);
  auto ms = t.elapsed_ms();
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_GT(ms[0], 0);
  EXPECT_GE(ms[1], 0);
  EXPECT_LT(ms[1], ms[0]);
  EXPECT_THROW(t.mark(2), Error);
}

TEST(BenchTimer, RejectsNoReps) {
  auto ctx = Context::cpu();
  EXPECT_THROW(time_fn(*ctx, [] {}, TimerOptions{0, 0, false}), Error);
}

TEST(BenchGuard, AllZeroOrNonFiniteInputIsRefused) {
  auto ctx = Context::cpu();
  Tensor z = Tensor::from_vector({2, 3}, std::vector<float>(6, 0.f));
  EXPECT_THROW(require_nonzero(z, *ctx, "input"), Error);
  Tensor nan = Tensor::from_vector({2}, {1.f, std::numeric_limits<float>::quiet_NaN()});
  EXPECT_THROW(require_nonzero(nan, *ctx, "input"), Error);
  Tensor ok = Tensor::from_vector({2, 3}, {0, 0, 0, 0, 0, 1e-30f});
  EXPECT_NO_THROW(require_nonzero(ok, *ctx, "input"));
}

TEST(BenchEnv, CpuEnvironmentHasDateAndCommit) {
  auto ctx = Context::cpu();
  nlohmann::json env = environment(*ctx);
  std::string date = env["date"];
  ASSERT_EQ(date.size(), 20u) << date;  // 2026-11-22T17:03:05Z
  EXPECT_EQ(date[10], 'T');
  EXPECT_EQ(date.back(), 'Z');
  EXPECT_FALSE(env["commit"].get<std::string>().empty());
  EXPECT_EQ(env["device_kind"], "cpu");
  EXPECT_TRUE(env["gpu"].is_null());
  EXPECT_EQ(utc_stamp_now().size(), 16u);  // 20261122T170305Z
}

namespace {

// A two-layer run with made-up times: a conv (GEMM) layer and a ReLU.
NetRun synthetic_run(const std::string& tag, double conv_ms, double relu_ms, int64_t k) {
  NetRun r;
  r.model = "toy";
  r.tag = tag;
  r.batch = 4;
  r.config.tag = tag;
  r.config.backend = "cublas";
  r.config.formats = "fp32";
  LayerResult conv;
  conv.name = "conv1";
  conv.type = "conv";
  conv.out_shape = {4, 8, 6, 6};
  conv.gemm = GemmShape{8, 36, k, 1};
  conv.flops = 2 * 8 * 36 * k * 4;
  conv.backend = "cublas";
  conv.format = "fp32";
  conv.time = summarize({conv_ms, conv_ms, conv_ms});
  conv.kernels = {{"cutlass_80_simt_sgemm_256x128_8x4_nn_align1", 1, 3.5}};
  LayerResult relu;
  relu.name = "relu1";
  relu.type = "relu";
  relu.out_shape = {4, 8, 6, 6};
  relu.time = summarize({relu_ms, relu_ms, relu_ms});
  r.layers = {conv, relu};
  r.layer_sum = summarize({conv_ms + relu_ms});
  r.total = summarize({conv_ms + relu_ms});
  r.total_method = "cuda-graph";
  return r;
}

}  // namespace

TEST(BenchReport, SingleRunSchema) {
  NetBenchOptions opt;
  opt.batch = 4;
  NetRun run = synthetic_run("fp32-cublas", 3.0, 1.0, 27);
  nlohmann::json env = {{"date", "2026-11-22T00:00:00Z"}, {"commit", "abc"}};
  nlohmann::json j = report_json({run}, opt, env, {{"model_path", "models/toy.json"}});
  EXPECT_EQ(j["schema"], "deftnn.bench.net/1");
  EXPECT_EQ(j["model"], "toy");
  EXPECT_EQ(j["batch"], 4);
  EXPECT_EQ(j["env"]["commit"], "abc");
  EXPECT_EQ(j["model_path"], "models/toy.json");
  EXPECT_EQ(j["timer"]["reps"], 50);
  EXPECT_EQ(j["timer"]["warmup"], 10);
  EXPECT_EQ(j["timer"]["flush_l2"], true);
  EXPECT_FALSE(j.contains("speedup"));
  ASSERT_EQ(j["runs"].size(), 1u);
  const auto& r = j["runs"][0];
  EXPECT_EQ(r["tag"], "fp32-cublas");
  EXPECT_EQ(r["config"]["backend"], "cublas");
  EXPECT_EQ(r["total_method"], "cuda-graph");
  EXPECT_DOUBLE_EQ(r["total"]["median_ms"].get<double>(), 4.0);
  EXPECT_TRUE(r["graph_error"].is_null());
  ASSERT_EQ(r["layers"].size(), 2u);
  const auto& c = r["layers"][0];
  EXPECT_EQ(c["name"], "conv1");
  EXPECT_EQ(c["gemm"]["M"], 8);
  EXPECT_EQ(c["gemm"]["N"], 36);
  EXPECT_EQ(c["gemm"]["K"], 27);
  EXPECT_EQ(c["out_shape"], (std::vector<int64_t>{4, 8, 6, 6}));
  EXPECT_DOUBLE_EQ(c["pct_of_layer_sum"].get<double>(), 75.0);
  EXPECT_NEAR(c["tflops"].get<double>(), double(2 * 8 * 36 * 27 * 4) / 3e-3 / 1e12, 1e-15);
  EXPECT_EQ(c["kernels"][0]["name"], "cutlass_80_simt_sgemm_256x128_8x4_nn_align1");
  EXPECT_EQ(c["kernels"][0]["calls"], 1);
  EXPECT_EQ(c["time"]["samples_ms"].size(), 3u);
  EXPECT_TRUE(r["layers"][1]["gemm"].is_null());
  EXPECT_FALSE(r["layers"][1].contains("tflops"));
}

TEST(BenchReport, CompareHasSpeedupsAndDensity) {
  NetBenchOptions opt;
  NetRun base = synthetic_run("fp32-cublas", 3.0, 1.0, 27);
  NetRun cand = synthetic_run("fission-deft16-sve", 1.5, 1.0, 18);
  nlohmann::json j = report_json({base, cand}, opt, nlohmann::json::object());
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_TRUE(j["timer"]["compare_interleaved"].get<bool>());
  EXPECT_DOUBLE_EQ(j["speedup"].get<double>(), 4.0 / 2.5);
  const auto& c = j["runs"][1]["layers"][0];
  EXPECT_DOUBLE_EQ(c["speedup"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(c["k_density"].get<double>(), 18.0 / 27.0);
  EXPECT_FALSE(j["runs"][0].contains("speedup"));
}

TEST(BenchReport, FileNameAndTable) {
  EXPECT_EQ(report_file_name("caffenet-imc", 128, "compare-fission/deft16", "20261122T170305Z"),
            "net-caffenet-imc-b128-compare-fission_deft16-20261122T170305Z.json");
  NetRun base = synthetic_run("fp32-cublas", 3.0, 1.0, 27);
  NetRun cand = synthetic_run("fission", 1.5, 1.0, 27);
  std::string t = format_table(cand, &base);
  EXPECT_NE(t.find("conv1"), std::string::npos) << t;
  EXPECT_NE(t.find("8/36/27"), std::string::npos) << t;
  EXPECT_NE(t.find("2.00x"), std::string::npos) << t;
  EXPECT_NE(t.find("speedup 1.600x"), std::string::npos) << t;
}

TEST(BenchKernelNames, CpuContextRecordsNothingOrIsRefused) {
  auto ctx = Context::cpu();
  if (KernelNameRecorder::available()) {
    EXPECT_THROW(KernelNameRecorder rec(*ctx), Error);
  } else {
    KernelNameRecorder rec(*ctx);
    EXPECT_TRUE(rec.take().empty());
  }
}

TEST(BenchGpu, EventsAndGraphReplayTimeAGemm) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  const int64_t n = 256;
  Tensor a = test::random_tensor({n, n}, 1).to(Device::CUDA, *ctx);
  Tensor b = test::random_tensor({n, n}, 2).to(Device::CUDA, *ctx);
  Tensor c = Tensor::empty({n, n}, DType::F32, Device::CUDA);
  GemmArgs g;
  g.M = g.N = g.K = n;
  g.A = a.data<float>();
  g.B = b.data<float>();
  g.C = c.data<float>();
  GemmConfig cfg;
  cfg.kernel = KernelFamily::Cublas;
  auto fn = [&] { gemm(*ctx, g, cfg); };
  TimingStats eager = time_fn(*ctx, fn, TimerOptions{2, 5, true});
  EXPECT_EQ(eager.reps, 5);
  EXPECT_GT(eager.min_ms, 0);
  CudaGraph graph(*ctx, fn);
  EXPECT_GE(graph.nodes(), 1u);
  TimingStats replay = time_fn(*ctx, [&] { graph.replay(); }, TimerOptions{2, 5, false});
  EXPECT_GT(replay.min_ms, 0);
  require_nonzero(c, *ctx, "the GEMM output");
  SegmentTimer seg(*ctx, 2);
  seg.start();
  fn();
  seg.mark(0);
  fn();
  seg.mark(1);
  auto ms = seg.elapsed_ms();
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_GT(ms[0], 0);
  EXPECT_GT(ms[1], 0);
  nlohmann::json env = environment(*ctx);
  EXPECT_FALSE(env["gpu"]["name"].get<std::string>().empty());
  EXPECT_FALSE(env["gpu"]["cublas"].is_null());
}

TEST(BenchKernelNames, RecordsTheCublasKernelOnGpu) {
  DEFTNN_REQUIRE_GPU();
  if (!KernelNameRecorder::available()) GTEST_SKIP() << "built without CUPTI";
  auto ctx = Context::cuda();
  const int64_t n = 128;
  Tensor a = test::random_tensor({n, n}, 1).to(Device::CUDA, *ctx);
  Tensor c = Tensor::empty({n, n}, DType::F32, Device::CUDA);
  GemmArgs g;
  g.M = g.N = g.K = n;
  g.A = a.data<float>();
  g.B = a.data<float>();
  g.C = c.data<float>();
  GemmConfig cfg;
  cfg.kernel = KernelFamily::Cublas;
  gemm(*ctx, g, cfg);  // cuBLAS initialises outside the recording
  KernelNameRecorder rec(*ctx);
  gemm(*ctx, g, cfg);
  gemm(*ctx, g, cfg);
  std::vector<KernelRecord> k = rec.take();
  ASSERT_FALSE(k.empty());
  int64_t calls = 0;
  for (auto& r : k) {
    calls += r.calls;
    EXPECT_FALSE(r.name.empty());
  }
  EXPECT_EQ(calls, 2) << k[0].name;
  EXPECT_TRUE(rec.take().empty());
}
