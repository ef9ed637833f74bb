// Recovery of an eliminated BERT encoder by distillation (train/embed_distill.h)
// and its optimiser (train/adam.h), on the tiny random BERT of
// tests/net/bert_reference.h (2 layers, width 8, CPU): the loss and its
// gradient against central differences (fp64); Adam against a plain fp64
// transcription of its equations; the engine's backward through the whole
// eliminated encoder against central differences of the loss; the loss
// falling on an elimination the dense model's weights cannot reach; keeping
// every column: zero loss from the start and weights bit for bit unchanged;
// the refusals, naming the file.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <unistd.h>

#include "core/error.h"
#include "core/rng.h"
#include "net/bert.h"
#include "net/bert_reference.h"
#include "net/bert_sve.h"
#include "train/adam.h"
#include "train/embed_distill.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace deftnn::train {
namespace {

using bert::BertEncoder;
using bert::BertSve;
using bert::BertSveLayer;
using bert::hf_tensor_name;
using bert::kTiny;

// Every linear layer keeps `keep` of its K columns (every other one first,
// then the rest in order) with the dense weight's columns and bias: no
// folding, so the student starts away from the teacher.
BertSve subset_sve(const std::map<std::string, Tensor>& dense, double keep) {
  BertSve s;
  s.source = "subset sve";
  for (const std::string& layer : bert::bert_linear_layers(kTiny)) {
    const Tensor& w = dense.at(hf_tensor_name(layer, "weight"));
    const int64_t out = w.dim(0), k = w.dim(1), kp = std::max<int64_t>(1, int64_t(std::lround(keep * double(k))));
    BertSveLayer L;
    L.state.original_k = k;
    for (int64_t j = 0; j < k && int64_t(L.state.kept.size()) < kp; j += 2) L.state.kept.push_back(int32_t(j));
    for (int64_t j = 1; j < k && int64_t(L.state.kept.size()) < kp; j += 2) L.state.kept.push_back(int32_t(j));
    L.weight = Tensor::empty({out, kp});
    for (int64_t o = 0; o < out; ++o)
      for (int64_t j = 0; j < kp; ++j)
        L.weight.data<float>()[o * kp + j] = w.data<float>()[o * k + L.state.kept[size_t(j)]];
    L.bias = dense.at(hf_tensor_name(layer, "bias")).to(Device::CPU, *Context::cpu());
    s.layers.emplace(layer, std::move(L));
  }
  return s;
}

// Random texts of 2 to 20 ids (the tiny model has 20 positions).
std::vector<std::vector<int32_t>> texts(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<int32_t>> out(n);
  for (auto& t : out) {
    t.resize(2 + rng.below(19));
    for (auto& id : t) id = int32_t(rng.below(uint64_t(kTiny.vocab)));
  }
  return out;
}

std::vector<float> values(const Tensor& t) { return t.to_vector(*Context::cpu()); }

TEST(EmbedDistill, LossIsHalfSquaredDistanceAndOneMinusCosineForUnitRows) {
  const int64_t n = 3, h = 5;
  std::vector<double> s(n * h), t(n * h), g(n * h);
  Rng rng(4);
  for (int64_t i = 0; i < n; ++i) {  // unit rows
    double ns = 0, nt = 0;
    for (int64_t j = 0; j < h; ++j) s[i * h + j] = rng.normal(), t[i * h + j] = rng.normal();
    for (int64_t j = 0; j < h; ++j) ns += s[i * h + j] * s[i * h + j], nt += t[i * h + j] * t[i * h + j];
    for (int64_t j = 0; j < h; ++j) s[i * h + j] /= std::sqrt(ns), t[i * h + j] /= std::sqrt(nt);
  }
  double want = 0;
  for (int64_t i = 0; i < n; ++i) {
    double dot = 0;
    for (int64_t j = 0; j < h; ++j) dot += s[i * h + j] * t[i * h + j];
    want += (1 - dot) / double(n);
  }
  // 1/2 ||s - t||^2 = 1 - s.t exactly for unit rows; fp64 rounding of a few terms.
  EXPECT_NEAR(embedding_distance_loss(s.data(), t.data(), n, h, g.data()), want, 1e-14);
  EXPECT_EQ(embedding_distance_loss(t.data(), t.data(), n, h, g.data()), 0.0);
  for (double x : g) EXPECT_EQ(x, 0.0);  // a student equal to its teacher: exactly no gradient
}

TEST(EmbedDistill, LossGradientMatchesCentralDifferences) {
  const int64_t n = 4, h = 7;
  std::vector<double> s(n * h), t(n * h), g(n * h);
  Rng rng(5);
  for (auto& x : s) x = rng.normal();
  for (auto& x : t) x = rng.normal();
  embedding_distance_loss(s.data(), t.data(), n, h, g.data());
  // The loss is quadratic in s: the central difference is exact but for
  // rounding, ~ 1e-16 * L / eps with L ~ h = 7: 1e-10 at eps 1e-5.
  const double eps = 1e-5;
  for (int64_t i = 0; i < n * h; ++i) {
    const double keep = s[size_t(i)];
    s[size_t(i)] = keep + eps;
    const double up = embedding_distance_loss<double>(s.data(), t.data(), n, h, nullptr);
    s[size_t(i)] = keep - eps;
    const double down = embedding_distance_loss<double>(s.data(), t.data(), n, h, nullptr);
    s[size_t(i)] = keep;
    EXPECT_NEAR(g[size_t(i)], (up - down) / (2 * eps), 1e-9) << "element " << i;
  }
}

TEST(Adam, MatchesItsEquationsInDouble) {
  const int64_t n = 50;
  AdamConfig c;
  c.lr = 1e-2;
  std::vector<float> w = test::random_vector(n, 1), m(n, 0), v(n, 0);
  std::vector<double> rw(w.begin(), w.end()), rm(n, 0), rv(n, 0);
  for (int64_t t = 1; t <= 6; ++t) {
    const std::vector<float> g = test::random_vector(n, 10 + uint64_t(t), -3, 3);
    adam_update(w.data(), g.data(), m.data(), v.data(), n, t, c);
    for (int64_t i = 0; i < n; ++i) {
      rm[i] = c.beta1 * rm[i] + (1 - c.beta1) * g[i];
      rv[i] = c.beta2 * rv[i] + (1 - c.beta2) * double(g[i]) * g[i];
      rw[i] -= c.lr * (rm[i] / (1 - std::pow(c.beta1, t))) / (std::sqrt(rv[i] / (1 - std::pow(c.beta2, t))) + c.eps);
    }
  }
  // Each step moves a weight by at most ~lr = 1e-2 with fp32 relative
  // rounding of a few ulps (~1e-7) of that, plus the weight's own rounding
  // (|w| < 1.1: 6e-8 per step): 1e-6 over six steps leaves margin.
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(w[i], rw[i], 1e-6) << "element " << i;
  // The first step of Adam moves each weight by lr * g / (|g| + eps): -lr sign(g).
  std::vector<float> w1 = {0.5f, -0.25f}, g1 = {2.f, -1e-3f}, m1(2, 0), v1(2, 0);
  adam_update(w1.data(), g1.data(), m1.data(), v1.data(), 2, 1, c);
  EXPECT_NEAR(w1[0], 0.5 - 1e-2, 1e-7);
  EXPECT_NEAR(w1[1], -0.25 + 1e-2, 1e-6);  // 1e-2 * 1e-3 / (1e-3 + 1e-8)
}

TEST(Adam, ZeroGradientLeavesWeightsBitForBit) {
  std::vector<float> w = test::random_vector(9, 2), w0 = w, g(9, 0.f);
  Adam adam(AdamConfig{});
  adam.add(9);
  for (int i = 0; i < 3; ++i) adam.step({w.data()}, {g.data()});
  EXPECT_EQ(w, w0);
  EXPECT_EQ(adam.steps(), 3);
  EXPECT_TRUE(test::error_of([&] { adam.step({w.data(), w.data()}, {g.data()}); }).find("registered") !=
              std::string::npos);
}

// dL/dW' and dL/db' of the engine's backward through the eliminated tiny
// BERT against central differences of the loss, on a padded batch (texts of
// 3 to 14 ids in T = 16: the mask matters).
TEST(EmbedDistill, EngineGradientOfTruncatedWeightsMatchesCentralDifferences) {
  auto ctx = Context::cpu();
  const auto dense = bert::random_weights(kTiny, 21);
  BertEncoder enc = BertEncoder::from_tensors(kTiny, dense, "tiny");
  const std::vector<std::vector<int32_t>> ids = {{1, 5, 7}, {3, 4, 9, 11, 2, 8, 6, 1, 0, 13, 17, 22, 5, 4},
                                                 {2, 2, 19, 20, 21, 1, 3}};
  const int64_t n = 3, t = 16;
  Tensor tok = Tensor::zeros({n, t}, *ctx), mask = Tensor::zeros({n, t}, *ctx);
  for (int64_t r = 0; r < n; ++r)
    for (size_t k = 0; k < ids[size_t(r)].size(); ++k)
      tok.data<float>()[r * t + int64_t(k)] = float(ids[size_t(r)][k]), mask.data<float>()[r * t + int64_t(k)] = 1;
  const Tensor teacher = enc.embed_ids(*ctx, ids);  // rows in the order given
  enc.set_sve(subset_sve(dense, 0.5));
  Net net = enc.make_net(*ctx, t);
  for (size_t i = 0; i < net.size(); ++i)
    for (Param* p : net.layer(i).params()) p->grad = Tensor::zeros(p->value.shape(), *ctx);
  auto loss_of = [&](Tensor* grad) {
    const Tensor y = net.forward(*ctx, std::vector<Tensor>{tok, mask}, true)[0];
    return embedding_distance_loss(y.data<float>(), teacher.data<float>(), n, kTiny.hidden,
                                   grad ? grad->data<float>() : nullptr);
  };
  Tensor dy = Tensor::empty({n, kTiny.hidden});
  const double l0 = loss_of(&dy);
  ASSERT_GT(l0, 1e-3) << "the elimination should move the embeddings";
  net.backward(*ctx, std::vector<Tensor>{dy});
  // fp32 forward: the loss (~0.1) carries a relative rounding noise of ~1e-6
  // (width 8, two layers), 1e-7 absolute; at eps = 1e-2 the central
  // difference's noise is ~1e-7 / 2e-2 = 5e-6 and its truncation error
  // eps^2 / 6 |L'''| ~ 2e-5 (weights and activations of order 1). So 1e-4
  // absolute plus 2% of the gradient: far below the O(1) relative error of a
  // wrong or missing term (a gradient of the wrong column, a dropped mask).
  const double eps = 1e-2;
  int checked = 0;
  double largest = 0, worst = 0;  // worst: the largest error as a share of its tolerance
  for (const char* layer : {"encoder/layer/0/attention/self/query", "encoder/layer/0/attention/self/value",
                            "encoder/layer/0/intermediate/dense", "encoder/layer/1/output/dense",
                            "encoder/layer/1/attention/output/dense", "encoder/layer/1/attention/self/key"}) {
    Layer* l = net.find(layer);
    ASSERT_NE(l, nullptr) << layer;
    for (Param* p : l->params()) {
      const std::vector<float> g = values(p->grad);
      for (int64_t e = 0; e < p->value.numel(); e += std::max<int64_t>(1, p->value.numel() / 7)) {
        float& w = p->value.data<float>()[e];
        const float keep = w;
        w = keep + float(eps);
        l->on_params_changed();
        const double up = loss_of(nullptr);
        w = keep - float(eps);
        l->on_params_changed();
        const double down = loss_of(nullptr);
        w = keep;
        l->on_params_changed();
        const double fd = (up - down) / (2 * eps);
        EXPECT_NEAR(g[size_t(e)], fd, 1e-4 + 0.02 * std::abs(fd)) << layer << "." << p->name << " element " << e;
        largest = std::max(largest, std::abs(fd));
        worst = std::max(worst, std::abs(g[size_t(e)] - fd) / (1e-4 + 0.02 * std::abs(fd)));
        ++checked;
      }
    }
  }
  std::cout << checked << " weights and biases checked, largest |dL/dw| " << largest << ", worst error "
            << worst << " of its tolerance\n";
  EXPECT_GT(checked, 60);
  EXPECT_GT(largest, 1e-2) << "the gradients checked are all near zero: the test would not see a wrong one";
}

TEST(EmbedDistill, LossFallsOnATinyEliminatedBert) {
  auto ctx = Context::cpu();
  const auto dense = bert::random_weights(kTiny, 31);
  BertEncoder enc = BertEncoder::from_tensors(kTiny, dense, "tiny");
  const BertSve start = subset_sve(dense, 0.5);
  const std::vector<float> start_w = values(start.layers.at("encoder/layer/0/intermediate/dense").weight);
  enc.set_sve(start);
  EmbedDistillConfig cfg;
  cfg.steps = 120, cfg.batch = 4, cfg.progress = false;
  cfg.adam.lr = 1e-2;
  const auto ids = texts(24, 3);
  const EmbedDistillResult r = distill_embeddings(enc, *ctx, ids, cfg);
  ASSERT_EQ(r.losses.size(), 120u);
  EXPECT_EQ(r.batches, 6);
  EXPECT_EQ(r.parameters, [&] {
    int64_t p = 0;
    for (const auto& [l, L] : start.layers) p += L.weight.numel() + L.bias.numel();
    return p;
  }());
  auto epoch_mean = [&](size_t e) {
    return std::accumulate(r.losses.begin() + long(6 * e), r.losses.begin() + long(6 * e + 6), 0.0) / 6;
  };
  const double first = epoch_mean(0), last = epoch_mean(19);
  std::cout << "tiny BERT at density 0.5: loss " << first << " (first epoch) -> " << last << " (epoch 20)\n";
  ASSERT_GT(first, 1e-3);
  EXPECT_LT(last, 0.5 * first);  // measured: far below half; half leaves room for another seed's path
  // The result is the encoder's state, the caller's tensors untouched.
  EXPECT_EQ(values(start.layers.at("encoder/layer/0/intermediate/dense").weight), start_w);
  EXPECT_NE(values(enc.sve().layers.at("encoder/layer/0/intermediate/dense").weight), start_w);
  // Its embeddings are closer to the dense ones than the start's.
  BertEncoder plain = BertEncoder::from_tensors(kTiny, dense, "tiny");
  BertEncoder before = BertEncoder::from_tensors(kTiny, dense, "tiny");
  before.set_sve(start);
  const Tensor want = plain.embed_ids(*ctx, ids);
  EXPECT_GT(row_cosines(enc.embed_ids(*ctx, ids), want).mean, row_cosines(before.embed_ids(*ctx, ids), want).mean);
}

TEST(EmbedDistill, KeepAllStartsAtZeroLossAndLeavesWeightsBitForBit) {
  auto ctx = Context::cpu();
  const auto dense = bert::random_weights(kTiny, 41);
  BertEncoder enc = BertEncoder::from_tensors(kTiny, dense, "tiny");
  BertSve s = subset_sve(dense, 1.0);  // every column kept (reordered: even ones first)
  // In order, so the gathered input equals the dense one and the CPU GEMM the same.
  for (auto& [layer, L] : s.layers) {
    L.weight = dense.at(hf_tensor_name(layer, "weight")).to(Device::CPU, *ctx);
    std::iota(L.state.kept.begin(), L.state.kept.end(), 0);
  }
  enc.set_sve(s);
  EmbedDistillConfig cfg;
  cfg.steps = 12, cfg.batch = 5, cfg.progress = false;
  cfg.adam.lr = 1e-2;
  const EmbedDistillResult r = distill_embeddings(enc, *ctx, texts(13, 4), cfg);
  for (double l : r.losses) EXPECT_EQ(l, 0.0);  // the student computes the teacher's numbers
  for (const auto& [layer, L] : enc.sve().layers) {
    EXPECT_EQ(values(L.weight), values(dense.at(hf_tensor_name(layer, "weight")))) << layer;
    EXPECT_EQ(values(L.bias), values(dense.at(hf_tensor_name(layer, "bias")))) << layer;
  }
}

// The same run on CUDA and the CPU: the first loss (before any update) is the
// same forward on two devices, within the tiny encoder's per-component 2e-5
// (kTinyAtol) times the row distance's derivative (|s - t| <= 2, so 4e-5
// per component over 8 components: 1e-4 on a loss ~0.04 leaves margin);
// afterwards Adam amplifies rounding differences, so the check is that the
// CUDA run learns as the CPU run does (its GPU weights follow the host's
// updates: sve_weights_changed), its last epoch within 20% (+1e-3) of the CPU's.
TEST(EmbedDistill, CudaLearnsAsTheCpuDoes) {
  DEFTNN_REQUIRE_GPU();
  const auto dense = bert::random_weights(kTiny, 31);
  const BertSve start = subset_sve(dense, 0.5);
  EmbedDistillConfig cfg;
  cfg.steps = 60, cfg.batch = 4, cfg.progress = false;
  cfg.adam.lr = 1e-2;
  const auto ids = texts(24, 3);
  std::vector<double> losses[2];
  for (int d = 0; d < 2; ++d) {
    auto ctx = Context::make(d ? Device::CUDA : Device::CPU);
    BertEncoder enc = BertEncoder::from_tensors(kTiny, dense, "tiny");
    enc.set_sve(start);
    losses[d] = distill_embeddings(enc, *ctx, ids, cfg).losses;
  }
  EXPECT_NEAR(losses[1][0], losses[0][0], 1e-4);
  auto last = [](const std::vector<double>& l) { return std::accumulate(l.end() - 6, l.end(), 0.0) / 6; };
  std::cout << "last epoch: CPU " << last(losses[0]) << ", CUDA " << last(losses[1]) << " (first " << losses[0][0]
            << ")\n";
  EXPECT_LT(last(losses[1]), 0.5 * losses[1][0]);
  EXPECT_NEAR(last(losses[1]), last(losses[0]), 0.2 * last(losses[0]) + 1e-3);
}

struct TempFile {
  explicit TempFile(const std::string& name)
      : path((fs::path(::testing::TempDir()) / ("deftnn_embed_distill_" + name + "_" + std::to_string(::getpid())))
                 .string()) {}
  ~TempFile() { fs::remove(path); }
  std::string path;
};

TEST(EmbedDistill, RefusesWhatDoesNotFitNamingTheFile) {
  auto ctx = Context::cpu();
  const auto dense = bert::random_weights(kTiny, 51);
  BertEncoder enc = BertEncoder::from_tensors(kTiny, dense, "tiny");
  EmbedDistillConfig cfg;
  cfg.progress = false;
  // Nothing eliminated: nothing to distil.
  test::expect_words(test::error_of([&] { distill_embeddings(enc, *ctx, texts(3, 1), cfg); }),
                     {"eliminates no layer", "nothing to distil"});
  // An SVE file made for another model (a wider one): the file and the layer.
  bert::BertConfig wide = kTiny;
  wide.hidden = 16, wide.heads = 2, wide.intermediate = 24;
  const BertSve other = [&] {
    BertSve s;
    BertSveLayer L;
    L.state.original_k = 16;
    L.state.kept = {0, 3, 5};
    L.weight = test::random_tensor({16, 3}, 1);
    L.bias = test::random_tensor({16}, 2);
    s.layers.emplace("encoder/layer/0/attention/self/query", std::move(L));
    return s;
  }();
  TempFile f("wide.safetensors");
  bert::write_bert_sve(f.path, other);
  test::expect_words(test::error_of([&] { enc.set_sve(bert::read_bert_sve(f.path)); }),
                     {f.path.c_str(), "encoder/layer/0/attention/self/query", "16 input features"});
  // Empty and blank text files, and a missing one.
  TempFile empty("empty.txt"), blank("blank.txt");
  std::ofstream(empty.path).close();
  std::ofstream(blank.path) << "\n  \n\t\n";
  test::expect_words(test::error_of([&] { read_text_lines(empty.path); }), {empty.path.c_str(), "no text"});
  test::expect_words(test::error_of([&] { read_text_lines(blank.path); }), {blank.path.c_str(), "no text"});
  test::expect_words(test::error_of([&] { read_text_lines(empty.path + ".missing"); }), {".missing"});
  TempFile two("two.txt");
  std::ofstream(two.path) << "one\r\n\n two \n";
  EXPECT_EQ(read_text_lines(two.path), (std::vector<std::string>{"one", " two "}));
  // Texts the model cannot take.
  enc.set_sve(subset_sve(dense, 0.5));
  test::expect_words(test::error_of([&] { distill_embeddings(enc, *ctx, {}, cfg); }), {"no texts"});
  test::expect_words(test::error_of([&] { distill_embeddings(enc, *ctx, {std::vector<int32_t>(21, 1)}, cfg); }),
                     {"text 0", "21 ids"});
  test::expect_words(test::error_of([&] { distill_embeddings(enc, *ctx, {{1, 99}}, cfg); }), {"id 99"});
}

}  // namespace
}  // namespace deftnn::train
