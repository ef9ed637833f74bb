// SVE on the BERT encoder's linear layers (src/net/bert_sve.h, bert.h
// set_sve): a tiny random BERT with random eliminations against the fp64
// reference of tests/net/bert_reference.h run on the equivalent dense
// weights (the truncated weight's columns put back at their kept positions,
// zeros elsewhere: W_full x = W' x[kept], so the reference never gathers);
// keeping every column is the dense encoder bit for bit; the SVE file round
// trip; CUDA against the CPU; the refusals of a file that does not fit, each
// naming the file and the layer; and the encoder benchmark's report.
#include <filesystem>
#include <iostream>
#include <numeric>
#include <unistd.h>

#include "bench/embed_bench.h"
#include "core/error.h"
#include "net/bert.h"
#include "net/bert_reference.h"
#include "net/bert_sve.h"
#include "net/safetensors.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace deftnn::bert {
namespace {

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A random elimination: every other linear layer (alternating which, so
// every kind is covered across the two encoder layers) keeps a random
// number 1..K of its columns in a random order, with random truncated
// weights and biases in the dense weights' range.
BertSve random_sve(const BertConfig& c, const std::map<std::string, Tensor>& dense, uint64_t seed) {
  BertSve s;
  s.source = "random sve";
  Rng rng(seed);
  const auto layers = bert_linear_layers(c);
  for (size_t i = 0; i < layers.size(); ++i) {
    if ((i + i / 6) % 2) continue;  // layer 0: query, value, intermediate; layer 1: key, output dense, output
    const Shape& w = dense.at(hf_tensor_name(layers[i], "weight")).shape();  // (out, K)
    std::vector<int32_t> perm(static_cast<size_t>(w[1]));
    std::iota(perm.begin(), perm.end(), 0);
    for (size_t j = perm.size(); j > 1; --j) std::swap(perm[j - 1], perm[rng.below(j)]);
    const int64_t kp = 1 + int64_t(rng.below(uint64_t(w[1])));
    BertSveLayer L;
    L.state.original_k = w[1];
    L.state.kept.assign(perm.begin(), perm.begin() + kp);
    L.weight = test::random_tensor({w[0], kp}, seed + 100 + i, -0.6f, 0.6f);
    L.bias = test::random_tensor({w[0]}, seed + 200 + i, -0.6f, 0.6f);
    s.layers.emplace(layers[i], std::move(L));
  }
  return s;
}

// The dense weights an elimination is equivalent to: W_full (out, K) with
// W'[:, j] at column kept[j] and zeros in the dropped columns; b'.
std::map<std::string, Tensor> equivalent_dense(std::map<std::string, Tensor> t, const BertSve& s) {
  for (const auto& [layer, L] : s.layers) {
    const int64_t out = L.weight.dim(0), kp = L.weight.dim(1), k = L.state.original_k;
    Tensor full = Tensor::zeros({out, k}, *Context::cpu());
    for (int64_t o = 0; o < out; ++o)
      for (int64_t j = 0; j < kp; ++j) full.data<float>()[o * k + L.state.kept[size_t(j)]] = L.weight.data<float>()[o * kp + j];
    t[hf_tensor_name(layer, "weight")] = full;
    t[hf_tensor_name(layer, "bias")] = L.bias;
  }
  return t;
}

// Every linear layer keeps all K columns in order with the dense weights.
BertSve keep_all(const BertConfig& c, const std::map<std::string, Tensor>& dense) {
  BertSve s;
  s.source = "keep all";
  for (const std::string& layer : bert_linear_layers(c)) {
    BertSveLayer L;
    L.weight = dense.at(hf_tensor_name(layer, "weight"));
    L.bias = dense.at(hf_tensor_name(layer, "bias"));
    L.state.original_k = L.weight.dim(1);
    L.state.kept.resize(size_t(L.weight.dim(1)));
    std::iota(L.state.kept.begin(), L.state.kept.end(), 0);
    s.layers.emplace(layer, std::move(L));
  }
  return s;
}

std::vector<float> embed(BertEncoder& enc, Device dev, int64_t batch) {
  auto ctx = Context::make(dev);
  EmbedOptions o;
  o.batch = batch;
  return enc.embed_ids(*ctx, tiny_sentences(), o).to_vector(*Context::cpu());
}

// The eliminated encoder against the fp64 reference of its equivalent
// dense weights. The tolerance is kTinyAtol's (bert_reference.h): the
// truncated weights are drawn from the dense weights' range, so the
// activations and the rounding per stage are of the same size; a GEMM of
// K' <= K terms rounds no worse than one of K.
void check_eliminated(Device dev) {
  const auto dense = random_weights(kTiny, 10);
  for (uint64_t seed : {1, 2, 3}) {
    BertSve s = random_sve(kTiny, dense, seed);
    const Weights ref_w = as_doubles(equivalent_dense(dense, s));
    BertEncoder enc = BertEncoder::from_tensors(kTiny, dense, "tiny");
    enc.set_sve(s);
    const auto got = embed(enc, dev, 2);
    const auto sentences = tiny_sentences();
    for (size_t i = 0; i < sentences.size(); ++i) {
      const auto want = reference_embedding(kTiny, ref_w, sentences[i]);
      std::vector<float> row(got.begin() + long(i) * kTiny.hidden, got.begin() + long(i + 1) * kTiny.hidden);
      EXPECT_TRUE(test::all_close(row, want, kTinyAtol, 0,
                                  std::string(device_name(dev)) + " seed " + std::to_string(seed) + " sentence " +
                                      std::to_string(i)));
    }
    // The dense encoder is not the answer (the elimination changes the model).
    BertEncoder plain = BertEncoder::from_tensors(kTiny, dense, "tiny");
    const auto d = embed(plain, dev, 2);
    double diff = 0;
    for (size_t i = 0; i < d.size(); ++i) diff = std::max(diff, double(std::abs(d[i] - got[i])));
    EXPECT_GT(diff, 1e-2) << "seed " << seed << ": the eliminated encoder equals the dense one";
  }
}

TEST(BertSve, TinyMatchesReferenceCpu) { check_eliminated(Device::CPU); }
TEST(BertSve, TinyMatchesReferenceCuda) {
  DEFTNN_REQUIRE_GPU();
  check_eliminated(Device::CUDA);
}

// Keeping every column in order gathers an exact copy of each input and runs
// the same GEMM (same M, N, K, same operands' values): bit for bit on the CPU.
TEST(BertSve, KeepAllIsDenseBitForBitCpu) {
  const auto dense = random_weights(kTiny, 10);
  BertEncoder plain = BertEncoder::from_tensors(kTiny, dense, "tiny");
  BertEncoder all = BertEncoder::from_tensors(kTiny, dense, "tiny");
  all.set_sve(keep_all(kTiny, dense));
  EXPECT_EQ(all.sve().layers.size(), size_t(6 * kTiny.layers));
  EXPECT_EQ(embed(all, Device::CPU, 2), embed(plain, Device::CPU, 2));
  all.clear_sve();  // and back to dense
  EXPECT_EQ(embed(all, Device::CPU, 3), embed(plain, Device::CPU, 3));
}

// CUDA against the CPU, eliminated and keep-all: both round in fp32 with
// different summation orders (cuBLAS, the attention and norm kernels), each
// within kTinyAtol of the fp64 reference, so within 2 kTinyAtol of each other.
TEST(BertSve, CudaMatchesCpu) {
  DEFTNN_REQUIRE_GPU();
  const auto dense = random_weights(kTiny, 10);
  BertEncoder enc = BertEncoder::from_tensors(kTiny, dense, "tiny");
  for (const BertSve& s : {random_sve(kTiny, dense, 5), keep_all(kTiny, dense)}) {
    enc.set_sve(s);
    const auto cpu = embed(enc, Device::CPU, 2), gpu = embed(enc, Device::CUDA, 2);
    EXPECT_TRUE(test::all_close(gpu, cpu, 2 * kTinyAtol, 0, "CUDA against the CPU, " + s.source));
  }
  // Keep-all on CUDA against the dense CUDA encoder: the same cuBLAS calls on
  // the same values; printed whether bit for bit, required within rounding.
  BertEncoder plain = BertEncoder::from_tensors(kTiny, dense, "tiny");
  enc.set_sve(keep_all(kTiny, dense));
  const auto a = embed(enc, Device::CUDA, 2), b = embed(plain, Device::CUDA, 2);
  std::cout << "keep-all on CUDA against dense CUDA: " << (a == b ? "bit for bit" : "not bit for bit") << "\n";
  EXPECT_TRUE(test::all_close(a, b, 2 * kTinyAtol, 0, "keep-all CUDA against dense CUDA"));
}

// ---- the SVE file ---------------------------------------------------------------

struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& name)
      : path(fs::path(::testing::TempDir()) / ("deftnn_bert_sve_" + name + "_" + std::to_string(::getpid()) +
                                                ".safetensors")) {}
  ~TempFile() { fs::remove(path); }
  std::string str() const { return path.string(); }
};

TEST(BertSve, FileRoundTripGivesTheSameEmbeddings) {
  const auto dense = random_weights(kTiny, 10);
  BertSve s = random_sve(kTiny, dense, 7);
  s.meta = {{"method", "random"}, {"density", 0.5}};
  TempFile f("roundtrip");
  write_bert_sve(f.str(), s);
  BertSve r = read_bert_sve(f.str());
  EXPECT_EQ(r.source, f.str());
  EXPECT_EQ(r.meta, s.meta);
  ASSERT_EQ(r.layers.size(), s.layers.size());
  for (const auto& [layer, L] : s.layers) {
    ASSERT_TRUE(r.layers.count(layer)) << layer;
    EXPECT_EQ(r.layers.at(layer).state.kept, L.state.kept) << layer;
    EXPECT_EQ(r.layers.at(layer).weight.to_vector(*Context::cpu()), L.weight.to_vector(*Context::cpu())) << layer;
  }
  BertEncoder a = BertEncoder::from_tensors(kTiny, dense, "tiny"), b = a;
  a.set_sve(s);
  b.set_sve(r);
  EXPECT_EQ(embed(a, Device::CPU, 2), embed(b, Device::CPU, 2));
}

using test::error_of;

// A file that does not fit the model, or is not a consistent SVE file: an
// Error naming the file and the layer (and what does not match).
TEST(BertSve, RefusesFilesThatDoNotFit) {
  const auto dense = random_weights(kTiny, 10);
  const std::string q = "encoder/layer/0/attention/self/query";
  TempFile f("bad");
  auto load_into_model = [&](const BertSve& s) {
    write_bert_sve(f.str(), s);
    return error_of([&] {
      BertEncoder enc = BertEncoder::from_tensors(kTiny, dense, "tiny");
      enc.set_sve(read_bert_sve(f.str()));
    });
  };
  const BertSve good = keep_all(kTiny, dense);
  {  // a layer the model does not have (a third encoder layer)
    BertSve s = good;
    s.layers["encoder/layer/2/attention/self/query"] = s.layers.at(q);
    const std::string e = load_into_model(s);
    EXPECT_TRUE(has(e, f.str()) && has(e, "'encoder/layer/2/attention/self/query'") && has(e, "not a linear layer"))
        << e;
  }
  {  // a state for another width: 9 input features where the model has 8
    BertSve s = good;
    BertSveLayer& L = s.layers.at(q);
    L.state.original_k = 9;
    const std::string e = load_into_model(s);
    EXPECT_TRUE(has(e, f.str()) && has(e, "'" + q + "'") && has(e, "9 input features") && has(e, "has 8")) << e;
  }
  {  // a truncated weight of other output features: (9, K') where the model has 8 outputs
    BertSve s = good;
    s.layers.at(q).weight = test::random_tensor({9, 8}, 1);
    s.layers.at(q).bias = test::random_tensor({9}, 2);
    const std::string e = load_into_model(s);
    EXPECT_TRUE(has(e, f.str()) && has(e, "'" + q + "'") && has(e, "(9, 8)") && has(e, "(8, 8)")) << e;
  }
  // Inconsistent files, refused by read_bert_sve before any model.
  auto read_error = [&](const TensorFile& tf) {
    write_safetensors(f.str(), tf);
    return error_of([&] { read_bert_sve(f.str()); });
  };
  auto file_of = [&](const BertSve& s) {
    write_bert_sve(f.str(), s);
    return read_safetensors(f.str());
  };
  {  // the weight's columns are not the kept count
    BertSve s = good;
    s.layers.at(q).weight = test::random_tensor({8, 7}, 1);
    write_bert_sve(f.str(), s);
    const std::string e = error_of([&] { read_bert_sve(f.str()); });
    EXPECT_TRUE(has(e, f.str()) && has(e, "'" + q + "'") && has(e, "(8, 7)") && has(e, "8 kept")) << e;
  }
  {  // a kept column listed twice
    BertSve s = good;
    s.layers.at(q).state.kept[1] = 0;
    write_bert_sve(f.str(), s);
    const std::string e = error_of([&] { read_bert_sve(f.str()); });
    EXPECT_TRUE(has(e, f.str()) && has(e, "'" + q + "'") && has(e, "listed twice")) << e;
  }
  {  // a missing bias
    TensorFile tf = file_of(good);
    tf.tensors.erase(q + ".bias");
    const std::string e = read_error(tf);
    EXPECT_TRUE(has(e, f.str()) && has(e, "'" + q + "'") && has(e, q + ".bias")) << e;
  }
  {  // a tensor of no layer
    TensorFile tf = file_of(good);
    tf.tensors["encoder/layer/0/intermediate/dense.scale"] = test::random_tensor({3}, 1);
    const std::string e = read_error(tf);
    EXPECT_TRUE(has(e, f.str()) && has(e, "encoder/layer/0/intermediate/dense.scale")) << e;
  }
  {  // a model file, not an SVE file
    TensorFile tf{dense, {{"format", "pt"}}};
    const std::string e = read_error(tf);
    EXPECT_TRUE(has(e, f.str()) && has(e, "not a BERT SVE file")) << e;
  }
  {  // an absurd width, refused before anything is sized by it
    TensorFile tf = file_of(good);
    tf.metadata["deftnn.sve"] = nlohmann::json{{q, {{"original_k", int64_t(1) << 50}, {"kept", {0}}}}}.dump();
    const std::string e = read_error(tf);
    EXPECT_TRUE(has(e, f.str()) && has(e, "'" + q + "'") && has(e, "original_k")) << e;
  }
  {  // a malformed entry
    TensorFile tf = file_of(good);
    tf.metadata["deftnn.sve"] = nlohmann::json{{q, {{"kept", {0, 1}}}}}.dump();
    const std::string e = read_error(tf);
    EXPECT_TRUE(has(e, f.str()) && has(e, "'" + q + "'") && has(e, "malformed")) << e;
  }
}

// ---- the timing-only elimination and the benchmark ------------------------------

TEST(BertSve, KeptCountRoundsUpToEight) {
  EXPECT_EQ(sve_kept_count(384, 1.0), 384);
  EXPECT_EQ(sve_kept_count(384, 0.9), 352);  // 345.6 -> 346 -> 352
  EXPECT_EQ(sve_kept_count(384, 0.5), 192);
  EXPECT_EQ(sve_kept_count(1536, 0.7), 1080);  // 1075.2 -> 1076 -> 1080
  EXPECT_EQ(sve_kept_count(12, 0.1), 8);        // at least 8
  EXPECT_EQ(sve_kept_count(12, 0.9), 12);       // at most K
  EXPECT_NE(error_of([] { sve_kept_count(8, 0.0); }).find("density 0"), std::string::npos);
}

TEST(BertSve, SpreadKeepsEvenlySpacedColumns) {
  const BertConfig c{32, 2, 1, 48, 23, 20, 2, 1e-12};
  const auto dense = random_weights(c, 3);
  BertEncoder enc = BertEncoder::from_tensors(c, dense, "spread");
  BertSve s = spread_sve(enc, 0.5);
  ASSERT_EQ(s.layers.size(), 6u);
  const BertSveLayer& L = s.layers.at("encoder/layer/0/output/dense");  // K = 48 -> 24
  ASSERT_EQ(L.state.kept.size(), 24u);
  for (size_t i = 0; i < 24; ++i) EXPECT_EQ(L.state.kept[i], int32_t(2 * i));
  const auto w = dense.at("encoder.layer.0.output.dense.weight").to_vector(*Context::cpu());  // (32, 48)
  const auto wk = L.weight.to_vector(*Context::cpu());                                        // (32, 24)
  for (int o = 0; o < 32; ++o)
    for (int i = 0; i < 24; ++i) ASSERT_EQ(wk[size_t(o * 24 + i)], w[size_t(o * 48 + 2 * i)]);
  enc.set_sve(s);  // fits the model
}

void check_bench(Device dev) {
  const BertConfig c{32, 2, 1, 48, 23, 20, 2, 1e-12};
  BertEncoder enc = BertEncoder::from_tensors(c, random_weights(c, 3), "bench");
  auto ctx = Context::make(dev);
  bench::EmbedBenchOptions o;
  o.batch = 2, o.tokens = 16, o.warmup = 1, o.reps = 3;
  int lines = 0;
  o.progress = [&](const std::string&) { ++lines; };
  const auto report = bench::bench_embed(*ctx, enc, {{"dense", {}}, {"spread 0.50", spread_sve(enc, 0.5)}}, o);
  EXPECT_EQ(lines, 2 + 1 + 3);  // two builds, one warm-up round, three timed
  ASSERT_EQ(report["cases"].size(), 2u);
  EXPECT_EQ(report["batch"], 2);
  EXPECT_EQ(report["tokens"], 16);
  EXPECT_TRUE(report["commit"].is_string() && report["date"].is_string() && !report["device"].is_null());
  const auto& d = report["cases"][0];
  const auto& h = report["cases"][1];
  EXPECT_EQ(d["kept_columns"], d["total_columns"]);
  EXPECT_EQ(d["total_columns"], 4 * 32 + 32 + 48);
  EXPECT_EQ(h["kept_columns"], 4 * 16 + 16 + 24);
  // 2 (N T) out K' summed: dense 2 * 32 * (4*32*32 + 48*32 + 32*48) = 458752 flop.
  EXPECT_NEAR(d["linear_gflop"].get<double>(), 458752e-9, 1e-15);
  EXPECT_NEAR(h["linear_gflop"].get<double>(), 458752e-9 / 2, 1e-15);
  EXPECT_EQ(d["timing"]["reps"], 3);
  EXPECT_GT(h["timing"]["median_ms"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(d["speedup_vs_first"].get<double>(), 1.0);
  EXPECT_TRUE(enc.sve().layers.empty()) << "bench_embed leaves the encoder's own states as they were";
  if (dev == Device::CUDA) {
    // A graph replay when the pass can be captured; else (the embedding
    // layer reads its id check back to the host, a synchronisation) CUDA
    // events around eager passes, with the capture's error recorded.
    EXPECT_TRUE(h["method"] == "cuda-graph" || (h["method"] == "cuda-events" && h.contains("graph_error")))
        << h.dump();
    std::cout << "bench embed on CUDA times by " << h["method"] << "\n";
  } else {
    EXPECT_EQ(h["method"], "steady-clock");
  }
}

TEST(BertSve, BenchReportCpu) { check_bench(Device::CPU); }
TEST(BertSve, BenchReportCuda) {
  DEFTNN_REQUIRE_GPU();
  check_bench(Device::CUDA);
}

}  // namespace
}  // namespace deftnn::bert
