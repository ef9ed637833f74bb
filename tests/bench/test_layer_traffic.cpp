// Counted FLOPs and bytes of small layers (bench/layer_traffic.h), every
// number derived by hand in the comment beside it.
#include <gtest/gtest.h>

#include "bench/layer_traffic.h"
#include "core/context.h"
#include "layers/gemm_layer.h"
#include "net/net.h"
#include "plan/apply.h"
#include "plan/parse.h"

using namespace deftnn;
using namespace deftnn::bench;

namespace {

std::unique_ptr<Layer> made(const nlohmann::json& spec, const Shape& in) {
  auto l = make_layer(spec);
  l->infer(in);
  Rng rng(1);
  l->init_params(rng);
  return l;
}

// Linear 8 -> 4 with bias, a batch of 2.
std::unique_ptr<Layer> linear() { return made({{"type", "linear"}, {"name", "fc"}, {"out", 4}}, {2, 8}); }
// Conv: 4 input channels, 6 output, 3x3, two groups, on (2, 4, 5, 5): 3x3 output.
std::unique_ptr<Layer> conv() {
  return made({{"type", "conv"}, {"name", "c"}, {"out", 6}, {"kernel", 3}, {"stride", 1}, {"pad", 0}, {"groups", 2},
               {"bias", true}},
              {2, 4, 5, 5});
}

GemmPlan plan_of(GemmBackend b, Precision p = Precision::FP32) {
  GemmPlan g;
  g.backend = b;
  g.precision = p;
  return g;
}

LayerTraffic run(Layer& l, const Shape& in, const Shape& out, const GemmPlan& p, InferArgs args = {}) {
  return layer_traffic(l, {in}, {out}, StepKind::Run, args, &p, false);
}

void set_sve(Layer& l, std::vector<int32_t> kept, int64_t original_k) {
  SveState s;
  s.original_k = original_k;
  s.kept = std::move(kept);
  const int64_t rows = l.as_gemm()->weight_rows();
  l.as_gemm()->set_sve(s, Tensor::from_vector({rows, int64_t(s.kept.size())},
                                              std::vector<float>(size_t(rows) * s.kept.size(), 0.5f)));
}

}  // namespace

TEST(LayerTraffic, LinearFp32) {
  auto l = linear();
  const LayerTraffic t = run(*l, {2, 8}, {2, 4}, plan_of(GemmBackend::Cublas));
  EXPECT_EQ(t.flops, 128);               // 2 M N K = 2 * 4 * 2 * 8
  EXPECT_EQ(t.input_bytes, 64);          // 2 x 8 fp32
  EXPECT_EQ(t.weight_bytes, 144);        // 4 x 8 fp32 + 4 bias
  EXPECT_EQ(t.output_bytes, 32);         // 2 x 4 fp32
  EXPECT_EQ(t.compulsory_bytes(), 240);
  EXPECT_EQ(t.intermediate_bytes, 64);   // add_row_bias reads and writes the output: 2 x 32
  EXPECT_EQ(t.engine_bytes(), 304);
  EXPECT_EQ(t.weight_storage, "fp32");
  EXPECT_EQ(t.compute, "fp32");
  EXPECT_TRUE(t.gemm);
}

TEST(LayerTraffic, LinearTensorCorePrecisions) {
  auto l = linear();
  const LayerTraffic b = run(*l, {2, 8}, {2, 4}, plan_of(GemmBackend::CublasLt, Precision::BF16));
  EXPECT_EQ(b.weight_bytes, 80);         // 4 x 8 bf16 = 64 + 16 bias
  EXPECT_EQ(b.intermediate_bytes, 128);  // input to bf16: 2 x (2 x 8 x 2) = 64, + the bias pass 64
  EXPECT_EQ(b.compute, "bf16");
  EXPECT_EQ(b.weight_storage, "bf16");
  const LayerTraffic f = run(*l, {2, 8}, {2, 4}, plan_of(GemmBackend::CublasLt, Precision::FP8E4M3));
  EXPECT_EQ(f.weight_bytes, 52);         // 4 x 8 x 1 + one fp32 scale + 16 bias
  EXPECT_EQ(f.intermediate_bytes, 160);  // input to fp8: 2 x 16 = 32, its amax pass 2 x 8 x 4 = 64, + 64
  EXPECT_EQ(f.compute, "fp8e4m3");
  const LayerTraffic t = run(*l, {2, 8}, {2, 4}, plan_of(GemmBackend::CublasTF32));
  EXPECT_EQ(t.weight_bytes, 144);
  EXPECT_EQ(t.compute, "tf32");
}

TEST(LayerTraffic, LinearNarrowWeights) {
  auto l = linear();
  GemmPlan fission = plan_of(GemmBackend::Fission);
  fission.format = Format::parse("deft16q");
  EXPECT_EQ(run(*l, {2, 8}, {2, 4}, fission).weight_bytes, 80);  // 32 x 2 + 16
  EXPECT_EQ(run(*l, {2, 8}, {2, 4}, fission).compute, "fp32");    // fp32 FMA after the unpack
  GemmPlan mixed = plan_of(GemmBackend::Mixed);
  mixed.weights = mixed::WeightFormat::parse("int8");
  const LayerTraffic m = run(*l, {2, 8}, {2, 4}, mixed);
  EXPECT_EQ(m.weight_bytes, 64);         // 32 x 1 + 4 per-channel fp32 scales (16) + 16 bias
  EXPECT_EQ(m.weight_storage, "mixed-int8");
  EXPECT_EQ(m.intermediate_bytes, 128);  // input to bf16 64 + bias pass 64
  EXPECT_EQ(m.compute, "bf16");
  // Where kernel mixed's measurement chose cuBLASLt on dec(W), the engine reads
  // 4 x 8 bf16 (64 bytes) instead of the 48 of codes and scales: +16.
  std::vector<LayerTraffic> ts = {m};
  MixedDecision d;
  d.M = 4, d.N = 2, d.K = 8, d.format = mixed::WeightFormat::parse("int8"), d.chosen = MixedChoice::Kernel;
  apply_mixed_decisions(ts, {d});
  EXPECT_EQ(ts[0].intermediate_bytes, 128);  // the kernel path reads the codes: unchanged
  d.chosen = MixedChoice::Dequantized;
  apply_mixed_decisions(ts, {d});
  EXPECT_EQ(ts[0].intermediate_bytes, 144);
  EXPECT_EQ(ts[0].compulsory_bytes(), m.compulsory_bytes());
  // int4: a scale per 128 k: a 300-input layer has ceil(300 / 128) = 3 per row.
  auto wide = made({{"type", "linear"}, {"name", "w"}, {"out", 2}, {"bias", false}}, {1, 300});
  mixed.weights = mixed::WeightFormat::parse("int4");
  EXPECT_EQ(run(*wide, {1, 300}, {1, 2}, mixed).weight_bytes, 324);  // 600 x 0.5 + 2 x 3 x 4
}

TEST(LayerTraffic, LinearUnderSve) {
  auto l = linear();
  set_sve(*l, {0, 3, 5}, 8);
  const LayerTraffic t = run(*l, {2, 8}, {2, 4}, plan_of(GemmBackend::Cublas));
  EXPECT_EQ(t.flops, 48);                // 2 * 4 * 2 * K' 3
  EXPECT_EQ(t.input_bytes, 24);          // the kept 3 features of 2 rows
  EXPECT_EQ(t.weight_bytes, 64);         // 4 x 3 fp32 + 16
  EXPECT_EQ(t.intermediate_bytes, 112);  // gathered (2, 3) written + read: 48, + bias pass 64
}

TEST(LayerTraffic, ConvFp32ColumnsAndEpilogue) {
  auto l = conv();
  const LayerTraffic t = run(*l, {2, 4, 5, 5}, {2, 6, 3, 3}, plan_of(GemmBackend::Cublas));
  EXPECT_EQ(t.flops, 3888);              // 2 groups x 2 M 3 x N (2 x 9) x K (2 x 9)
  EXPECT_EQ(t.input_bytes, 800);         // 2 x 4 x 25 fp32
  EXPECT_EQ(t.weight_bytes, 456);        // 6 x 18 fp32 + 6 bias
  EXPECT_EQ(t.output_bytes, 432);        // 2 x 6 x 9 fp32
  // Columns (18 rows x 18 cols fp32) per group, written + read: 2 x 2 x 1296 =
  // 5184; NCHW output of two images through bias_permute: 2 x 432.
  EXPECT_EQ(t.intermediate_bytes, 6048);
  InferArgs trunk;
  trunk.in = trunk.out = Layout::CNHW;
  trunk.defer = true;  // the consumer applies bias + ReLU
  EXPECT_EQ(run(*l, {2, 4, 5, 5}, {2, 6, 3, 3}, plan_of(GemmBackend::Cublas), trunk).intermediate_bytes, 5184);
  trunk.defer = false;  // CNHW with its own bias: add_channel_bias over the output
  EXPECT_EQ(run(*l, {2, 4, 5, 5}, {2, 6, 3, 3}, plan_of(GemmBackend::Cublas), trunk).intermediate_bytes, 6048);
}

TEST(LayerTraffic, ConvTensorCoreOperands) {
  auto l = conv();
  InferArgs trunk;
  trunk.in = trunk.out = Layout::CNHW;
  trunk.defer = true;
  const LayerTraffic b = run(*l, {2, 4, 5, 5}, {2, 6, 3, 3}, plan_of(GemmBackend::CublasLt, Precision::BF16), trunk);
  EXPECT_EQ(b.weight_bytes, 240);        // 6 x 18 bf16 + 24
  EXPECT_EQ(b.intermediate_bytes, 2592); // the bf16 im2row operand, 2 groups x 2 x (18 x 18 x 2)
  const LayerTraffic f = run(*l, {2, 4, 5, 5}, {2, 6, 3, 3}, plan_of(GemmBackend::CublasLt, Precision::FP8E4M3), trunk);
  EXPECT_EQ(f.intermediate_bytes, 9072); // fp32 columns 5184 + fp8 copy 2 x 2 x 324 + amax read 2 x 1296
}

// cuDNN in bf16 (conv_cudnn.cpp): a bf16 weight copy, bf16 tensor-core
// compute, the input converted and the 16-bit output widened; in fp32, cuDNN's
// buffers are not modelled.
TEST(LayerTraffic, ConvThroughCudnn) {
  auto l = conv();
  LayerExec e;
  e.kernel = KernelFamily::Cudnn, e.precision = Precision::BF16;
  l->as_gemm()->set_exec(e);
  const LayerTraffic b = layer_traffic(*l, {{2, 4, 5, 5}}, {{2, 6, 3, 3}}, StepKind::Run, {}, nullptr, true);
  EXPECT_EQ(b.compute, "bf16");
  EXPECT_EQ(b.weight_bytes, 240);         // 6 x 18 bf16 + 6 fp32 bias
  EXPECT_EQ(b.intermediate_bytes, 1232);  // 2 x 2 x (200 input + 108 output elements)
  e.precision = Precision::FP32;
  l->as_gemm()->set_exec(e);
  const LayerTraffic f = layer_traffic(*l, {{2, 4, 5, 5}}, {{2, 6, 3, 3}}, StepKind::Run, {}, nullptr, true);
  EXPECT_EQ(f.compute, "fp32");
  EXPECT_EQ(f.weight_bytes, 456);
  EXPECT_EQ(f.intermediate_bytes, 0);
}

TEST(LayerTraffic, ConvUnderSveReadsOnlyTheKeptChannels) {
  auto l = conv();
  set_sve(*l, {0, 4, 8}, 18);  // rows 0, 4, 8 are taps of channel 0 (9 taps a channel)
  InferArgs trunk;
  trunk.in = trunk.out = Layout::CNHW;
  trunk.defer = true;
  const LayerTraffic t = run(*l, {2, 4, 5, 5}, {2, 6, 3, 3}, plan_of(GemmBackend::Cublas), trunk);
  EXPECT_EQ(t.flops, 648);               // 2 groups x 2 x 3 x 18 x K' 3
  EXPECT_EQ(t.input_bytes, 400);         // 2 images x 2 groups x 1 channel x 25 fp32
  EXPECT_EQ(t.weight_bytes, 96);         // 6 x 3 fp32 + 24
  EXPECT_EQ(t.intermediate_bytes, 864);  // columns 3 rows x 18 cols fp32 x 2 groups, written + read
  set_sve(*l, {0, 9, 10}, 18);           // channels 0 and 1
  EXPECT_EQ(run(*l, {2, 4, 5, 5}, {2, 6, 3, 3}, plan_of(GemmBackend::Cublas), trunk).input_bytes, 800);
}

TEST(LayerTraffic, NonGemmFusedAndSkippedLayers) {
  auto r = made({{"type", "relu"}, {"name", "r"}}, {2, 3});
  const LayerTraffic t = layer_traffic(*r, {{2, 3}}, {{2, 3}}, StepKind::Run, {}, nullptr, false);
  EXPECT_FALSE(t.gemm);
  EXPECT_EQ(t.flops, 0);
  EXPECT_EQ(t.compulsory_bytes(), 48);   // 6 fp32 in, 6 out
  EXPECT_EQ(t.intermediate_bytes, 0);
  const LayerTraffic f = layer_traffic(*r, {{2, 3}}, {{2, 3}}, StepKind::Fused, {}, nullptr, false);
  EXPECT_EQ(f.engine_bytes(), 0);        // its producer's epilogue did it
  EXPECT_EQ(layer_traffic(*r, {{2, 3}}, {{2, 3}}, StepKind::Skip, {}, nullptr, false).engine_bytes(), 0);
  auto l = linear();
  EXPECT_THROW(layer_traffic(*l, {{2, 8}}, {{2, 4}}, StepKind::Run, {}, nullptr, false), Error);  // no plan
}

TEST(LayerTraffic, NetTrafficFollowsTheInferencePlan) {
  // LeNet on the CPU: ip1 + relu1 fused, the relu moves nothing; every other
  // layer runs. Its conv1 at batch 2 (1x28x28 in, 20x5x5 kernels, 24x24 out):
  auto ctx = Context::cpu();
  Net net = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/lenet.json");
  net.init(1);
  plan::apply_plan(net, plan::from_flags({}, plan::plan_of(net)), ctx->device());
  const std::vector<LayerTraffic> t = net_traffic(*ctx, net, 2);
  ASSERT_EQ(t.size(), net.size());
  EXPECT_EQ(t[0].name, "conv1");
  EXPECT_EQ(t[0].flops, 1152000);          // 2 x 20 x (2 x 576) x 25
  EXPECT_EQ(t[0].compulsory_bytes(), 100512);  // in 6272 + weight 2000 + bias 80 + out 92160
  EXPECT_EQ(t[0].flops, net.layer(0).flops({2, 1, 28, 28}));
  size_t relu = 0;
  while (relu < t.size() && t[relu].name != "relu1") ++relu;
  ASSERT_LT(relu, t.size());
  EXPECT_EQ(t[relu].step, StepKind::Fused);
  EXPECT_EQ(t[relu].engine_bytes(), 0);
}
