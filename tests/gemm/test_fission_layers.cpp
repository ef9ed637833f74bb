// The fission kernels inside real layers: a conv layer's column matrix lives in
// the context's layer scratch while the fission GEMM takes the GEMM scratch and
// the layer's packed weights (gemm/packed_cache.h). Whole nets on the GPU, each
// GEMM layer through the fission backend, against the same net on cuBLAS.
#include <cmath>

#include "layers/conv.h"
#include "net/net.h"
#include "plan/parse.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

std::vector<float> logits(Context& ctx, const std::string& model, const std::string& format, int64_t batch) {
  Net net = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/" + model);
  net.init(5);
  net.to(ctx);
  for (size_t i = 0; i < net.size(); ++i)
    if (GemmLayer* g = net.layer(i).as_gemm(); g && !format.empty()) {
      LayerExec e;
      e.kernel = KernelFamily::Fission;
      e.format = plan::parse_format(format);
      g->set_exec(e);
    }
  Shape in = {batch};
  for (int64_t d : net.input_shape()) in.push_back(d);
  Tensor x = random_tensor(in, 21, 0.f, 1.f).to(Device::CUDA, ctx);
  net.forward(ctx, x, false);  // first pass packs the weights
  return net.forward(ctx, x, false).to_vector(ctx);
}

TEST(FissionLayers, NetsOnFissionKernelsMatchCublas) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  // Tolerances on the relative L2 error of the logits: fp32 tiles differ from
  // cuBLAS only in summation order (~1e-6); 16-bit formats carry 2^-8 relative
  // error per operand (<= 2^-7 per product), which a few layers of random
  // weights keep well under 2^-4; 8-bit Deft-8 (E=4: 3 mantissa bits) 2^-4 per
  // operand, under 0.25 after the net. Deft-8 E=4 only on LeNet (xavier
  // weights): CifarNet's conv1 weights are Gaussian with std 1e-4 (Caffe's
  // cifar10_full filler), below Deft-8 E=4's smallest subnormal 2^-9, so they
  // all flush to zero and the logits are the biases alone (relative error 1,
  // seen on the H100). That is the format's range, which is why E is a choice.
  struct Case { const char* format; double tol; };
  for (const char* model : {"lenet.json", "cifarnet.json"})
    for (int64_t batch : {int64_t(1), int64_t(7)}) {
      std::vector<float> ref = logits(*ctx, model, "", batch);
      std::vector<Case> cases = {{"fp32", 1e-5}, {"deft16q", 1.0 / 16}, {"half", 1.0 / 16}};
      if (std::string(model) == "lenet.json") cases.push_back({"deft8e4", 0.25});
      for (Case c : cases) {
        double e = rel_l2(logits(*ctx, model, c.format, batch), ref);
        EXPECT_LT(e, c.tol) << model << " batch " << batch << " " << c.format;
      }
    }
}

// LeNet-5 (random weights from `seed`) on ctx, every GEMM layer on the fission
// kernels with fp32 tiles (or on cuBLAS when !fission).
Net lenet(Context& ctx, uint64_t seed, bool fission = true) {
  Net net = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/lenet.json");
  net.init(seed);
  net.to(ctx);
  if (fission)
    for (size_t i = 0; i < net.size(); ++i)
      if (GemmLayer* g = net.layer(i).as_gemm()) {
        LayerExec e;  // fp32 tiles on the fission kernels
        e.kernel = KernelFamily::Fission;
        g->set_exec(e);
      }
  return net;
}

TEST(FissionLayers, PackedWeightsFollowWeightUpdates) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  Net net = lenet(*ctx, 6);
  Tensor x = random_tensor({2, 1, 28, 28}, 22, 0.f, 1.f).to(Device::CUDA, *ctx);
  auto before = net.forward(*ctx, x, false).to_vector(*ctx);
  // Training pass, then scale every weight in place as an optimiser would:
  // the next inference must see the new weights, not a stale pack.
  net.forward(*ctx, x, true);
  Tensor d = Tensor::zeros({2, 10}, *ctx);
  d.fill_(0.1f, *ctx);
  net.backward(*ctx, d);
  for (Param* p : net.params())
    if (p->name == "weight") {
      auto v = p->value.to_vector(*ctx);
      for (auto& e : v) e *= 2;
      p->value.copy_from(Tensor::from_vector(p->value.shape(), v), *ctx);
    }
  auto after = net.forward(*ctx, x, false).to_vector(*ctx);
  EXPECT_GT(rel_l2(after, before), 0.1) << "packed weights were not rebuilt after backward";
}

// Weights replaced from outside, with no backward in between: a new (smaller,
// SVE-truncated) weight that may reuse a freed buffer's address, and a weight
// overwritten in place followed by on_params_changed() (the optimiser and the
// trainer's best-epoch restore). Found on the H100: `deftnn optimize` with
// fission formats installed a K' = 400 conv2 over a stale K = 500 pack.
TEST(FissionLayers, PackedWeightsFollowReplacedWeights) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  Net net = lenet(*ctx, 6);
  Net ref = lenet(*ctx, 6, /*fission=*/false);
  Tensor x = random_tensor({2, 1, 28, 28}, 23, 0.f, 1.f).to(Device::CUDA, *ctx);
  net.forward(*ctx, x, false);  // packs every layer

  // conv2 (50, 20, 5, 5), K = 500: keep the first 400 synapse vectors in both nets.
  for (Net* n : {&net, &ref}) {
    auto* conv2 = dynamic_cast<Conv2d*>(n->find("conv2"));
    ASSERT_NE(conv2, nullptr);
    SveState st;
    for (int32_t k = 0; k < 400; ++k) st.kept.push_back(k);
    st.original_k = 500;
    std::vector<float> w = conv2->params()[0]->value.to_vector(*ctx), wt;
    for (int64_t m = 0; m < 50; ++m)
      for (int64_t k = 0; k < 400; ++k) wt.push_back(w[size_t(m * 500 + k)]);
    conv2->set_sve(st, Tensor::from_vector({50, 400}, wt).to(Device::CUDA, *ctx));
    conv2->on_device_change(*ctx);
  }
  auto want = ref.forward(*ctx, x, false).to_vector(*ctx);
  auto got = net.forward(*ctx, x, false).to_vector(*ctx);
  EXPECT_LT(rel_l2(got, want), 1e-5) << "truncated weight over a stale pack";

  // In place, then on_params_changed().
  for (Net* n : {&net, &ref})
    for (Param* p : n->params())
      if (p->name == "weight") {
        auto v = p->value.to_vector(*ctx);
        for (auto& e : v) e *= -1.5f;
        p->value.copy_from(Tensor::from_vector(p->value.shape(), v), *ctx);
      }
  for (size_t i = 0; i < net.size(); ++i) net.layer(i).on_params_changed();
  want = ref.forward(*ctx, x, false).to_vector(*ctx);
  got = net.forward(*ctx, x, false).to_vector(*ctx);
  EXPECT_LT(rel_l2(got, want), 1e-5) << "in-place weights over a stale pack";
}

}  // namespace
}  // namespace deftnn::test
