// The execution plan: its one door (flags, JSON, old per-layer "gemm"
// entries), its checks (each refusal names the layer and lists what exists)
// and its trip through a model file.
#include <gtest/gtest.h>

#include <filesystem>

#include "layers/conv.h"
#include "net/net.h"
#include "plan/apply.h"
#include "plan/parse.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

Net lenet() {
  Net net = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/lenet.json");
  net.init(3);
  return net;
}

plan::PlanFlags flags(std::vector<std::string> format, std::string kernel = "", std::string precision = "") {
  plan::PlanFlags f;
  f.format = std::move(format);
  f.kernel = std::move(kernel);
  f.precision = std::move(precision);
  return f;
}

TEST(ExecPlan, FlagsBuildTheTypedPlan) {
  plan::PlanFlags f = flags({"deft16q", "ip1=fp8e4m3"}, "auto", "fp32");
  f.transform = "copy";
  f.no_trunk = true;
  const ExecPlan p = plan::from_flags(f);
  EXPECT_EQ(p.defaults.kernel, KernelFamily::Auto);
  EXPECT_EQ(p.defaults.format, (Format{FormatKind::Deft16Q}));
  EXPECT_EQ(p.defaults.transform, SveTransform::Copy);
  EXPECT_EQ(p.trunk, TrunkPolicy::Off);
  EXPECT_TRUE(p.fuse_inference);
  ASSERT_EQ(p.layers.size(), 1u);
  EXPECT_EQ(p.layers.at("ip1").format, (Format{FormatKind::FP8E4M3}));
  EXPECT_EQ(p.layers.at("ip1").transform, SveTransform::Copy);  // the entry starts from the default
  EXPECT_EQ(p.exec_for("conv1", LayerKind::Conv), p.defaults);
}

TEST(ExecPlan, FlagsApplyOverTheLoadedPlan) {
  ExecPlan base;
  base.layers["conv2"].format = Format{FormatKind::Deft16};
  const ExecPlan p = plan::from_flags(flags({}, "fission"), base);
  EXPECT_EQ(p.defaults.kernel, KernelFamily::Fission);
  EXPECT_EQ(p.layers.at("conv2").kernel, KernelFamily::Fission);
  EXPECT_EQ(p.layers.at("conv2").format, (Format{FormatKind::Deft16}));
  EXPECT_EQ(plan::from_flags({}, base), base);
}

// --precision bf16,ip2=fp32: every layer bf16 but ip2; a model file's plan
// carries the per-layer precision and reads it back.
TEST(ExecPlan, PrecisionPerLayer) {
  const ExecPlan p = plan::from_flags(flags({"ip1=fp32"}, "", "bf16,ip2=fp32,conv1=fp8e4m3"));
  EXPECT_EQ(p.defaults.precision, Precision::BF16);
  EXPECT_EQ(p.exec_for("conv2", LayerKind::Conv).precision, Precision::BF16);
  EXPECT_EQ(p.exec_for("ip1", LayerKind::Linear).precision, Precision::BF16);
  EXPECT_EQ(p.exec_for("ip2", LayerKind::Linear).precision, Precision::FP32);
  EXPECT_EQ(p.exec_for("conv1", LayerKind::Conv).precision, Precision::FP8E4M3);
  EXPECT_EQ(plan::from_json(plan::to_json(p)), p);
  Net net = lenet();
  plan::apply_plan(net, p, Device::CPU);
  EXPECT_EQ(net.find("conv1")->as_gemm()->exec().precision, Precision::FP8E4M3);
  EXPECT_EQ(plan::plan_of(net).exec_for("ip2", LayerKind::Linear).precision, Precision::FP32);
  expect_words(error_of([] { plan::from_flags(flags({}, "", "bf16,fp16")); }),
               {"--precision gives a precision for every layer twice"});
  expect_words(error_of([] { plan::from_flags(flags({}, "", "ip2=")); }), {"bad --precision entry 'ip2='"});
  expect_words(error_of([] { plan::from_flags(flags({}, "", "ip2=fp64")); }), {"unknown precision 'fp64'"});
}

TEST(ExecPlan, CudnnDefaultLeavesLinearLayersOnCublas) {
  const ExecPlan p = plan::from_flags(flags({}, "cudnn"));
  EXPECT_EQ(p.exec_for("conv1", LayerKind::Conv).kernel, KernelFamily::Cudnn);
  EXPECT_EQ(p.exec_for("ip1", LayerKind::Linear).kernel, KernelFamily::Cublas);
}

// --kernel conv2=cudnn,conv5=cudnn: those convolutions on cuDNN, the rest on
// the default; a kernel for every layer and per layer together.
TEST(ExecPlan, KernelPerLayer) {
  const ExecPlan p = plan::from_flags(flags({}, "conv2=cudnn,conv5=cudnn", "bf16"));
  EXPECT_EQ(p.defaults.kernel, KernelFamily::Auto);
  EXPECT_EQ(p.exec_for("conv1", LayerKind::Conv).kernel, KernelFamily::Auto);
  EXPECT_EQ(p.exec_for("conv2", LayerKind::Conv).kernel, KernelFamily::Cudnn);
  EXPECT_EQ(p.exec_for("conv2", LayerKind::Conv).precision, Precision::BF16);
  EXPECT_EQ(p.exec_for("conv5", LayerKind::Conv).kernel, KernelFamily::Cudnn);
  EXPECT_EQ(plan::from_json(plan::to_json(p)), p);
  const ExecPlan q = plan::from_flags(flags({}, "cublas,conv1=cudnn"));
  EXPECT_EQ(q.exec_for("conv2", LayerKind::Conv).kernel, KernelFamily::Cublas);
  EXPECT_EQ(q.exec_for("conv1", LayerKind::Conv).kernel, KernelFamily::Cudnn);
  expect_words(error_of([] { plan::from_flags(flags({}, "cudnn,cublas")); }),
               {"--kernel gives a kernel for every layer twice"});
  expect_words(error_of([] { plan::from_flags(flags({}, "conv1=")); }), {"bad --kernel entry 'conv1='"});
  expect_words(error_of([] { plan::from_flags(flags({}, "conv1=tpu")); }), {"unknown kernel 'tpu'"});
}

TEST(ExecPlan, JsonRoundTrips) {
  plan::PlanFlags f = flags({"deft8e3", "conv2=deft16q"}, "fission");
  f.no_fuse = true;
  ExecPlan p = plan::from_flags(f);
  p.layers["conv2"].placement = FissionPlacement::OffChip;
  p.layers["ip2"].precision = Precision::TF32;
  p.layers["ip2"].kernel = KernelFamily::Cublas;
  const nlohmann::json j = plan::to_json(p);
  EXPECT_EQ(plan::from_json(j), p);
  EXPECT_EQ(plan::from_json(nlohmann::json::parse(j.dump())), p);
  EXPECT_EQ(plan::from_json(plan::to_json(ExecPlan{})), ExecPlan{});
}

TEST(ExecPlan, UnknownNamesListTheKnownOnes) {
  expect_words(error_of([] { plan::from_flags(flags({}, "warp-drive")); }),
               {"unknown kernel 'warp-drive'", "auto, cpu-blas, cublas, cudnn, fission"});
  expect_words(error_of([] { plan::from_flags(flags({"deft9"})); }), {"unknown number format 'deft9'", "deft16q"});
  expect_words(error_of([] { plan::from_flags(flags({}, "", "fp64")); }),
               {"unknown precision 'fp64'", "fp32, tf32, bf16, fp16, fp8e4m3"});
  expect_words(error_of([] {
                 plan::PlanFlags f;
                 f.transform = "shuffle";
                 plan::from_flags(f);
               }),
               {"unknown SVE input transform 'shuffle'", "fused, copy, swap"});
  expect_words(error_of([] { plan::from_flags(flags({"=deft16"})); }), {"bad --format entry '=deft16'"});
  expect_words(error_of([] { plan::from_json({{"default", {{"speed", "fast"}}}}); }), {"unknown key 'speed'"});
  expect_words(error_of([] { plan::from_json({{"layers", {{"conv1", {{"kernel", "magic"}}}}}}); }),
               {"layer 'conv1'", "unknown kernel 'magic'"});
  expect_words(error_of([] { plan::from_json({{"version", 2}}); }), {"version 2"});
}

// Every refusal of check_plan names the net's layer and says what exists.
TEST(ExecPlan, InvalidPlansNameTheLayerAndWhatExists) {
  const Net net = lenet();
  auto refused = [&](const ExecPlan& p, std::optional<Device> d) {
    return error_of([&] { plan::check_plan(p, net, d); });
  };
  ExecPlan p;
  p.layers["conv9"] = {};
  expect_words(refused(p, Device::CPU), {"layer 'conv9'", "does not have", "conv1, conv2, ip1, ip2"});
  p.layers = {{"pool1", {}}};
  expect_words(refused(p, Device::CPU), {"layer 'pool1' (maxpool)", "runs no GEMM", "conv1, conv2, ip1, ip2"});

  p.layers = {{"ip1", {}}};
  p.layers["ip1"].kernel = KernelFamily::Cudnn;
  expect_words(refused(p, Device::CUDA), {"layer 'ip1' (linear)", "cudnn runs convolutions only", "cublas, fission"});

  p = plan::from_flags(flags({}, "fission"));
  expect_words(refused(p, Device::CPU), {"layer 'conv1' (conv) on cpu", "fission runs on CUDA only", "cpu-blas"});
  p = plan::from_flags(flags({}, "cublas"));
  expect_words(refused(p, Device::CPU), {"layer 'conv1'", "cublas runs on CUDA only"});
  p = plan::from_flags(flags({}, "cpu-blas"));
  expect_words(refused(p, Device::CUDA), {"layer 'conv1'", "cpu-blas runs on the CPU only", "cublas, cudnn, fission"});
  p = plan::from_flags(flags({}, "", "tf32"));
  expect_words(refused(p, Device::CPU), {"layer 'conv1'", "tf32 runs on cublas (CUDA) only", "fp32"});
  p = plan::from_flags(flags({}, "fission", "tf32"));
  expect_words(refused(p, Device::CUDA), {"layer 'conv1'", "tf32 runs on cublas only"});
  p = plan::from_flags(flags({"deft16"}, "cublas"));
  expect_words(refused(p, Device::CUDA), {"layer 'conv1'", "format deft16 is a fission format", "kernel fission"});
  p = plan::from_flags(flags({"deft16"}, "cudnn"));
  expect_words(refused(p, Device::CUDA), {"layer 'conv1'", "cudnn reads fp32 weights"});
  p = plan::from_flags(flags({}, "cudnn"));
  expect_words(refused(p, Device::CPU), {"layer 'conv1'", "cudnn runs on CUDA only"});
  for (const char* prec : {"bf16", "fp16"})  // (cuDNN on 16-bit tensors)
    EXPECT_NO_THROW(plan::check_plan(plan::from_flags(flags({}, "cudnn", prec)), net, Device::CUDA)) << prec;
  expect_words(refused(plan::from_flags(flags({}, "cudnn", "tf32")), Device::CUDA),
               {"layer 'conv1'", "cudnn runs fp32", "bf16 and fp16, not tf32", "tf32 on cublas"});
  for (const char* prec : {"bf16", "fp16", "fp8e4m3"}) {
    if (std::string(prec) == "fp8e4m3") {
      p = plan::from_flags(flags({}, "cudnn", prec));
      expect_words(refused(p, Device::CUDA), {"layer 'conv1'", "not fp8e4m3", "fp8e4m3 on cublas (cuBLASLt)"});
    }
    p = plan::from_flags(flags({}, "fission", prec));
    expect_words(refused(p, Device::CUDA), {"layer 'conv1'", prec, "the fission kernels multiply in fp32"});
    p = plan::from_flags(flags({"deft16"}, "", prec));
    expect_words(refused(p, Device::CUDA), {"layer 'conv1'", "format deft16 is a fission format", prec});
    expect_words(refused(p, Device::CPU), {"layer 'conv1'", "format deft16 is a fission format", prec});
    p = plan::from_flags(flags({}, "cublas", prec));
    expect_words(refused(p, Device::CPU), {"layer 'conv1'", "cublas runs on CUDA only", "cpu-blas (emulated)"});
    // The tensor-core precisions run on cuBLASLt, and emulated on the CPU.
    plan::check_plan(plan::from_flags(flags({}, "cublas", prec)), net, Device::CUDA);
    plan::check_plan(plan::from_flags(flags({}, "", prec)), net, Device::CUDA);
    plan::check_plan(plan::from_flags(flags({}, "", prec)), net, Device::CPU);
    plan::check_plan(plan::from_flags(flags({}, "cpu-blas", prec)), net, Device::CPU);
  }
  // Mixed-input weights named for a convolution are refused (an all-layers
  // --weights skips the convolutions by itself), from the flags and from a plan file.
  {
    plan::PlanFlags f;
    f.weights = "conv1=int4";
    expect_words(refused(plan::from_flags(f), Device::CPU),
                 {"layer 'conv1' (conv)", "mixed-input weights (int4) run linear layers only"});
    f.weights = "conv2=int8,ip1=int4";
    expect_words(refused(plan::from_flags(f), std::nullopt), {"layer 'conv2' (conv)", "(int8)"});
    f.weights = "conv1=int4,conv1=none";  // named, then taken back: nothing to refuse
    plan::check_plan(plan::from_flags(f), net, Device::CPU);
    f.weights = "int4";  // every layer: the convolutions are skipped, the linear ones planned
    const ExecPlan all = plan::from_flags(f);
    plan::check_plan(all, net, Device::CPU);
    EXPECT_EQ(all.exec_for("conv1", LayerKind::Conv).kernel, KernelFamily::Auto);
    EXPECT_EQ(all.exec_for("ip1", LayerKind::Linear).kernel, KernelFamily::Mixed);
    const ExecPlan from_file =
        plan::from_json({{"layers", {{"conv2", {{"kernel", "mixed"}, {"weights", "int4"}}}}}});
    expect_words(refused(from_file, Device::CPU), {"layer 'conv2' (conv)", "linear layers only"});
  }
  // Valid plans pass: the default everywhere, the GPU plans on CUDA, and on
  // "some device" (a model file being loaded).
  plan::check_plan(ExecPlan{}, net, Device::CPU);
  plan::check_plan(ExecPlan{}, net, Device::CUDA);
  plan::check_plan(plan::from_flags(flags({"deft16q", "ip2=fp8e4m3"})), net, Device::CUDA);
  plan::check_plan(plan::from_flags(flags({}, "cudnn")), net, Device::CUDA);
  plan::check_plan(plan::from_flags(flags({}, "cublas", "tf32")), net, Device::CUDA);
  plan::check_plan(plan::from_flags(flags({}, "fission")), net, std::nullopt);
  // Auto on the CPU runs fp32 whatever the format (a GPU-tuned model evaluates there).
  plan::check_plan(plan::from_flags(flags({"deft16q"})), net, Device::CPU);
}

TEST(ExecPlan, CudnnRefusesAnSveLayer) {
  Net net = lenet();
  Conv2d& conv2 = *static_cast<Conv2d*>(net.find("conv2"));
  SveState st;
  st.original_k = 500;
  for (int32_t k = 0; k < 400; ++k) st.kept.push_back(k);
  conv2.set_sve(st, Tensor::zeros({50, 400}, *Context::cpu()));
  const ExecPlan p = plan::from_flags(flags({}, "cudnn"));
  expect_words(error_of([&] { plan::check_plan(p, net, Device::CUDA); }),
               {"layer 'conv2'", "cudnn does not take an SVE-truncated weight", "cublas, fission"});
  LayerExec e;
  e.kernel = KernelFamily::Cudnn;
  expect_words(error_of([&] { conv2.set_exec(e); }), {"layer 'conv2'", "SVE-truncated"});
  // A swap transform needs a state built for it.
  e = {};
  e.transform = SveTransform::Swap;
  expect_words(error_of([&] { conv2.set_exec(e); }), {"layer 'conv2'", "swap cannot replace fused", "fused, copy"});
  e.transform = SveTransform::Copy;
  conv2.set_exec(e);
  EXPECT_EQ(conv2.sve().transform, SveTransform::Copy);
}

TEST(ExecPlan, ApplyHandsEachLayerItsExecAndPlanOfReadsItBack) {
  Net net = lenet();
  plan::PlanFlags f = flags({"conv2=deft16q", "ip1=deft8e3"});
  f.no_trunk = true;
  const ExecPlan p = plan::from_flags(f);
  plan::apply_plan(net, p, Device::CUDA);
  EXPECT_EQ(net.find("conv2")->as_gemm()->exec().format, (Format{FormatKind::Deft16Q}));
  EXPECT_EQ(net.find("ip1")->as_gemm()->exec().format, (Format{FormatKind::Deft8, 3}));
  EXPECT_EQ(net.find("conv1")->as_gemm()->exec(), LayerExec{});
  EXPECT_EQ(net.find("pool1")->as_gemm(), nullptr);
  EXPECT_EQ(net.trunk_fusion, Net::TrunkFusion::Off);
  EXPECT_EQ(plan::plan_of(net), p);
}

// flags -> plan -> model file -> plan.
TEST(ExecPlan, ModelFilesStoreThePlan) {
  Net net = lenet();
  plan::PlanFlags f = flags({"deft16q", "ip2=fp8e4m3"}, "fission");
  const ExecPlan p = plan::from_flags(f);
  plan::apply_plan(net, p, std::nullopt);
  const std::string path = (std::filesystem::temp_directory_path() / "deftnn_plan_test.safetensors").string();
  net.save(path);
  Net back = Net::load(path);
  std::filesystem::remove(path);
  EXPECT_EQ(plan::plan_of(back), plan::plan_of(net));
  for (const char* l : {"conv1", "conv2", "ip1", "ip2"})
    EXPECT_EQ(back.find(l)->as_gemm()->exec(), p.exec_for(l, back.find(l)->as_gemm()->kind())) << l;
  EXPECT_FALSE(back.graph()["layers"][0].contains("gemm"));
}

// Old model files: a per-layer "gemm" entry in the graph loads into the plan.
TEST(ExecPlan, OldPerLayerGemmEntriesLoadIntoThePlan) {
  nlohmann::json g = lenet().graph();
  g["layers"][2]["gemm"] = {{"backend", "fission"}, {"format", "deft16q"}, {"placement", "onchip"}};  // conv2
  g["layers"][4]["gemm"] = {{"backend", "cublas-tf32"}};                                              // ip1
  g["layers"][6]["gemm"] = {{"format", "deft8e3"}, {"placement", "offchip"}};                        // ip2
  ASSERT_EQ(g["layers"][2]["name"], "conv2");
  ASSERT_EQ(g["layers"][4]["name"], "ip1");
  ASSERT_EQ(g["layers"][6]["name"], "ip2");
  Net net = Net::from_graph(g, "old.json");
  ExecPlan want;
  want.layers["conv2"] = {Precision::FP32, KernelFamily::Fission, {FormatKind::Deft16Q}, FissionPlacement::OnChip, {}};
  want.layers["ip1"] = {Precision::TF32, KernelFamily::Cublas, {}, FissionPlacement::OnChip, {}};
  want.layers["ip2"] = {Precision::FP32, KernelFamily::Auto, {FormatKind::Deft8, 3}, FissionPlacement::OffChip, {}};
  EXPECT_EQ(plan::plan_of(net), want);
  // ... and the same plan survives a save and load in the current form.
  const std::string path = (std::filesystem::temp_directory_path() / "deftnn_old_gemm_test.safetensors").string();
  net.save(path);
  Net back = Net::load(path);
  std::filesystem::remove(path);
  EXPECT_EQ(plan::plan_of(back), want);
}

TEST(ExecPlan, CudnnThroughThePlanMatchesTheGemmPath) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  Net ref = lenet(), net = lenet();
  ref.to(*ctx);
  net.to(*ctx);
  plan::apply_plan(net, plan::from_flags(flags({}, "cudnn")), Device::CUDA);
  EXPECT_TRUE(static_cast<Conv2d*>(net.find("conv1"))->cudnn());
  EXPECT_EQ(net.find("ip1")->as_gemm()->exec().kernel, KernelFamily::Cublas);
  Tensor x = random_tensor({4, 1, 28, 28}, 8, 0.f, 1.f).to(Device::CUDA, *ctx);
  const std::vector<float> want = ref.forward(*ctx, x, false).to_vector(*ctx);
  const std::vector<float> got = net.forward(*ctx, x, false).to_vector(*ctx);
  EXPECT_FALSE(net.find("conv1")->as_gemm()->library_algo().empty());
  // The same fp32 products summed in another order: per GEMM at most about
  // K (500) x fp32 eps (6e-8) = 3e-5 relative, over 4 GEMM layers about 1e-4.
  EXPECT_TRUE(all_close(got, want, 1e-4, 1e-4, "cudnn vs cuBLAS logits"));
}

}  // namespace
}  // namespace deftnn::test
