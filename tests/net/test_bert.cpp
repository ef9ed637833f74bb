// The BERT encoder (src/net/bert.h): a small random BERT against a plain
// fp64 reference written here (each sentence alone, no padding) on the CPU
// and the GPU; batching and padding that change nothing; the refusals of a
// bad model folder, each naming its file; and all-MiniLM-L6-v2 against the
// embeddings sentence-transformers computed (tests/data/minilm_reference.json.gz,
// written by tests/python/make_embedding_reference.py), when both exist.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "bench/timer.h"
#include "core/error.h"
#include "data/tokenizer.h"
#include "net/bert.h"
#include "net/bert_reference.h"
#include "net/safetensors.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace deftnn::bert {
namespace {

using json = nlohmann::json;
void check_tiny(Device dev) {
  auto tensors = random_weights(kTiny, 10);
  const Weights w = as_doubles(tensors);
  BertEncoder enc = BertEncoder::from_tensors(kTiny, tensors, "tiny");
  auto ctx = Context::make(dev);
  const auto sentences = tiny_sentences();
  int64_t calls = 0, last_done = 0;
  EmbedOptions o;
  o.batch = 2;
  o.progress = [&](int64_t done, int64_t total) {
    ++calls;
    EXPECT_GT(done, last_done);
    EXPECT_EQ(total, int64_t(sentences.size()));
    last_done = done;
  };
  Tensor got = enc.embed_ids(*ctx, sentences, o);
  ASSERT_EQ(got.shape(), (Shape{int64_t(sentences.size()), kTiny.hidden}));
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(last_done, int64_t(sentences.size()));
  const auto g = got.to_vector(*Context::cpu());
  for (size_t s = 0; s < sentences.size(); ++s) {
    auto want = reference_embedding(kTiny, w, sentences[s]);
    std::vector<float> row(g.begin() + long(s) * kTiny.hidden, g.begin() + long(s + 1) * kTiny.hidden);
    EXPECT_TRUE(test::all_close(row, want, kTinyAtol, 0, std::string(device_name(dev)) + " sentence " +
                                                              std::to_string(s) + " of " +
                                                              std::to_string(sentences[s].size()) + " tokens"));
  }
  // One batch of all (T = 20) gives the same up to rounding.
  o.batch = 64;
  o.progress = nullptr;
  auto g1 = enc.embed_ids(*ctx, sentences, o).to_vector(*Context::cpu());
  EXPECT_TRUE(test::all_close(g1, g, 1e-6, 0, "one batch against batches of 2"));
}

TEST(Bert, TinyMatchesReferenceCpu) { check_tiny(Device::CPU); }
TEST(Bert, TinyMatchesReferenceCuda) {
  DEFTNN_REQUIRE_GPU();
  check_tiny(Device::CUDA);
}

// The encoder with its linear layers in bf16 (set_exec_plan; the CPU
// emulates the tensor cores' rounding, docs/precision.md): against the fp64
// reference whose linear layers round their inputs and weights to bf16
// (round to nearest even), and against the plain one. Three checks:
//  - the largest error against the plain reference is within bf16's reach:
//    inputs and weights each rounded by at most 2^-9 relative make each
//    product's error at most ~2^-8 of |w x|; the layer norms keep the
//    activations a few units, so over 2 layers and an output of norm 1 the
//    components err by ~1e-2 at most (0.05 allowed; a wrong wiring errs by
//    O(0.1) and more);
//  - the median error against the bf16 reference is under a tenth of the
//    median against the plain one: the rounding really happens where and
//    as the reference does it (a run left in fp32 fails this; a max is no
//    good here, since an fp32 intermediate one ulp off the fp64 one may
//    round to the next bf16 value now and then);
//  - the fp32 plan gives embeddings that differ from the bf16 ones.
void check_tiny_bf16(Device dev) {
  auto tensors = random_weights(kTiny, 10);
  const Weights w = as_doubles(tensors);
  BertEncoder enc = BertEncoder::from_tensors(kTiny, tensors, "tiny");
  auto ctx = Context::make(dev);
  const auto sentences = tiny_sentences();
  const auto fp32 = enc.embed_ids(*ctx, sentences).to_vector(*Context::cpu());
  ExecPlan plan;
  plan.defaults.precision = Precision::BF16;
  enc.set_exec_plan(plan);
  const auto got = enc.embed_ids(*ctx, sentences).to_vector(*Context::cpu());
  const Rounding bf16 = [](double v) {  // round to nearest even at 8 significant bits
    uint32_t u;
    const float f = float(v);
    std::memcpy(&u, &f, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    float r;
    std::memcpy(&r, &u, 4);
    return double(r);
  };
  std::vector<double> to_plain, to_rounded;
  double worst = 0, fp32_moved = 0;
  for (size_t s = 0; s < sentences.size(); ++s) {
    const auto plain = reference_embedding(kTiny, w, sentences[s]);
    const auto rounded = reference_embedding(kTiny, w, sentences[s], bf16);
    for (int64_t j = 0; j < kTiny.hidden; ++j) {
      const size_t k = s * size_t(kTiny.hidden) + size_t(j);
      to_plain.push_back(std::fabs(got[k] - plain[size_t(j)]));
      to_rounded.push_back(std::fabs(got[k] - rounded[size_t(j)]));
      worst = std::max(worst, to_plain.back());
      fp32_moved = std::max(fp32_moved, std::fabs(double(got[k]) - fp32[k]));
    }
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double m_plain = median(to_plain), m_rounded = median(to_rounded);
  std::cout << device_name(dev) << " bf16: max error " << worst << ", median error " << m_plain
            << " (plain reference), " << m_rounded << " (bf16-rounded reference)\n";
  EXPECT_LE(worst, 0.05);
  EXPECT_LT(m_rounded, 0.1 * m_plain);
  EXPECT_GT(fp32_moved, 1e-4) << "the bf16 plan gave the fp32 embeddings";
}

TEST(Bert, TinyBf16MatchesRoundedReferenceCpu) { check_tiny_bf16(Device::CPU); }
TEST(Bert, TinyBf16MatchesRoundedReferenceCuda) {
  DEFTNN_REQUIRE_GPU();
  check_tiny_bf16(Device::CUDA);
}

// A plan the encoder's layers cannot run is refused by make_net, naming the
// layer; one that names a layer the encoder lacks, naming that.
TEST(Bert, RefusesABadPlan) {
  BertEncoder enc = BertEncoder::from_tensors(kTiny, random_weights(kTiny, 10), "tiny");
  auto cpu = Context::cpu();
  ExecPlan plan;
  plan.layers["encoder/layer/0/nope"] = LayerExec{};
  enc.set_exec_plan(plan);
  test::expect_words(test::error_of([&] { enc.make_net(*cpu, 8); }), {"encoder/layer/0/nope"});
  plan.layers.clear();
  plan.defaults.kernel = KernelFamily::Cublas;
  enc.set_exec_plan(plan);
  test::expect_words(test::error_of([&] { enc.make_net(*cpu, 8); }), {"attention/self/query"});
}

// The encoder's pass captured as one CUDA graph (bench embed times it so):
// the replay gives the eager pass's embeddings bit for bit, and an id outside
// the vocabulary, which a captured pass cannot read back to refuse, makes NaN
// embeddings for its sentence only instead of reading outside the table.
TEST(Bert, TinyCapturesAsACudaGraphCuda) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  BertEncoder enc = BertEncoder::from_tensors(kTiny, random_weights(kTiny, 12), "tiny");
  const int64_t n = 3, t = 16;
  Net net = enc.make_net(*ctx, t);
  std::vector<float> ids(size_t(n * t)), mask(size_t(n * t), 1.f);
  for (size_t k = 0; k < ids.size(); ++k) ids[k] = float((k * 7 + 3) % size_t(kTiny.vocab));
  std::vector<Tensor> in = {Tensor::from_vector({n, t}, ids).to(Device::CUDA, *ctx),
                            Tensor::from_vector({n, t}, mask).to(Device::CUDA, *ctx)};
  const std::vector<float> eager = net.forward(*ctx, in, false)[0].to_vector(*ctx);
  Tensor y = net.forward(*ctx, in, false)[0];
  std::unique_ptr<bench::CudaGraph> graph;
  try {
    graph = std::make_unique<bench::CudaGraph>(*ctx, [&] { net.forward(*ctx, in, false); });
  } catch (const Error& e) {
    FAIL() << "the encoder does not capture: " << e.what();
  }
  y.fill_(-7.f, *ctx);  // poisoned: the replay must write it
  graph->replay();
  EXPECT_EQ(y.to_vector(*ctx), eager);
  ids[size_t(t + 2)] = float(kTiny.vocab);  // sentence 1 gets an id past the table
  in[0].copy_from(Tensor::from_vector({n, t}, ids), *ctx);
  graph->replay();
  const std::vector<float> bad = y.to_vector(*ctx);
  const int64_t h = kTiny.hidden;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < h; ++j) {
      const size_t k = size_t(r * h + j);
      if (r == 1) EXPECT_TRUE(std::isnan(bad[k])) << "sentence 1, column " << j;
      else EXPECT_EQ(bad[k], eager[k]) << "sentence " << r << ", column " << j;
    }
  // Eager, the same ids are refused with a message.
  EXPECT_THROW(net.forward(*ctx, in, false), Error);
}

TEST(Bert, GraphNamesFollowHuggingFace) {
  const json g = bert_graph(kTiny, 16);
  std::set<std::string> names;
  for (const auto& l : g["layers"]) names.insert(l["name"].get<std::string>());
  for (const char* n : {"embeddings", "embeddings/LayerNorm", "encoder/layer/0/attention/self/query",
                        "encoder/layer/1/attention/self", "encoder/layer/1/output/LayerNorm", "pooling", "normalize"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_EQ(hf_tensor_name("encoder/layer/0/attention/self/query", "weight"),
            "encoder.layer.0.attention.self.query.weight");
  EXPECT_EQ(hf_tensor_name("embeddings", "token_type"), "embeddings.token_type_embeddings.weight");
  Net net = Net::from_graph(g, "tiny");
  EXPECT_EQ(net.tensor_shape("normalize", 3), (Shape{3, kTiny.hidden}));
  EXPECT_EQ(net.tensor_shape("encoder/layer/1/intermediate/gelu", 3), (Shape{3, 16, kTiny.intermediate}));
}

// ---- model folders and their refusals ------------------------------------------

struct ModelDir {
  fs::path dir;
  explicit ModelDir(const std::string& name) {
    dir = fs::path(::testing::TempDir()) / ("deftnn_bert_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "1_Pooling");
    write_config({});
    write("modules.json", json::array({{{"idx", 0}, {"name", "0"}, {"path", ""}, {"type",
                                         "sentence_transformers.models.Transformer"}},
                                       {{"idx", 1}, {"name", "1"}, {"path", "1_Pooling"},
                                        {"type", "sentence_transformers.models.Pooling"}},
                                       {{"idx", 2}, {"name", "2"}, {"path", "2_Normalize"},
                                        {"type", "sentence_transformers.models.Normalize"}}})
                              .dump());
    write("1_Pooling/config.json", json{{"word_embedding_dimension", 8},
                                        {"pooling_mode_cls_token", false},
                                        {"pooling_mode_mean_tokens", true},
                                        {"pooling_mode_max_tokens", false}}
                                       .dump());
    write_weights(random_weights(kTiny, 10));
  }
  ~ModelDir() { fs::remove_all(dir); }
  void write(const std::string& file, const std::string& text) const { std::ofstream(dir / file) << text; }
  void write_config(const json& changes) const {
    json c = {{"architectures", {"BertModel"}}, {"model_type", "bert"}, {"hidden_act", "gelu"},
              {"hidden_size", 8}, {"num_attention_heads", 2}, {"num_hidden_layers", 2},
              {"intermediate_size", 12}, {"vocab_size", 23}, {"max_position_embeddings", 20},
              {"type_vocab_size", 2}, {"layer_norm_eps", 1e-12}, {"position_embedding_type", "absolute"}};
    for (const auto& [k, v] : changes.items()) {
      if (v.is_null()) c.erase(k);
      else c[k] = v;
    }
    write("config.json", c.dump());
  }
  void write_weights(std::map<std::string, Tensor> t) const {
    t["pooler.dense.weight"] = test::random_tensor({8, 8}, 3);  // unused by sentence-transformers: ignored
    write_safetensors((dir / "model.safetensors").string(), TensorFile{t, {{"format", "pt"}}});
  }
  std::string load_error() const {
    try {
      BertEncoder::load(dir.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "(loaded)";
  }
};

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Bert, LoadsAModelFolder) {
  ModelDir m("ok");
  BertEncoder enc = BertEncoder::load(m.dir.string());
  EXPECT_EQ(enc.dim(), 8);
  EXPECT_EQ(enc.config().layers, 2);
  auto cpu = Context::cpu();
  auto y = enc.embed_ids(*cpu, {{1, 2, 3}}).to_vector(*cpu);
  auto want = reference_embedding(kTiny, as_doubles(random_weights(kTiny, 10)), {1, 2, 3});
  EXPECT_TRUE(test::all_close(y, want, kTinyAtol, 0, "loaded folder"));
}

TEST(Bert, RefusesBadConfig) {
  ModelDir m("config");
  const std::string cfg = (m.dir / "config.json").string();
  m.write_config({{"hidden_act", "relu"}});
  std::string e = m.load_error();
  EXPECT_TRUE(has(e, cfg) && has(e, "'relu'") && has(e, "gelu")) << e;
  m.write_config({{"hidden_size", nullptr}});
  e = m.load_error();
  EXPECT_TRUE(has(e, cfg) && has(e, "'hidden_size'")) << e;
  m.write_config({{"hidden_size", 9}});
  e = m.load_error();
  EXPECT_TRUE(has(e, cfg) && has(e, "multiple")) << e;
  m.write_config({{"model_type", "gpt2"}});
  e = m.load_error();
  EXPECT_TRUE(has(e, cfg) && has(e, "gpt2")) << e;
  m.write_config({{"position_embedding_type", "relative_key"}});
  e = m.load_error();
  EXPECT_TRUE(has(e, cfg) && has(e, "relative_key")) << e;
  m.write("config.json", "{\"hidden_size\": ");
  e = m.load_error();
  EXPECT_TRUE(has(e, cfg) && has(e, "JSON")) << e;
}

TEST(Bert, RefusesOtherPipelines) {
  ModelDir m("modules");
  m.write("modules.json", R"([{"type": "sentence_transformers.models.Transformer"},
                             {"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}])");
  std::string e = m.load_error();
  EXPECT_TRUE(has(e, (m.dir / "modules.json").string()) && has(e, "Normalize")) << e;
  ModelDir p("pooling");
  p.write("1_Pooling/config.json", R"({"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false})");
  e = p.load_error();
  EXPECT_TRUE(has(e, (p.dir / "1_Pooling" / "config.json").string()) && has(e, "pooling_mode_cls_token")) << e;
}

TEST(Bert, RefusesBadWeights) {
  ModelDir m("weights");
  const std::string file = (m.dir / "model.safetensors").string();
  auto t = random_weights(kTiny, 10);
  t.erase("encoder.layer.1.output.dense.bias");
  m.write_weights(t);
  std::string e = m.load_error();
  EXPECT_TRUE(has(e, file) && has(e, "'encoder.layer.1.output.dense.bias'") && has(e, "(8)")) << e;
  t = random_weights(kTiny, 10);
  t["encoder.layer.0.attention.self.query.weight"] = test::random_tensor({8, 9}, 1);
  m.write_weights(t);
  e = m.load_error();
  EXPECT_TRUE(has(e, file) && has(e, "'encoder.layer.0.attention.self.query.weight'") && has(e, "(8, 9)") &&
              has(e, "(8, 8)"))
      << e;
  m.write("model.safetensors", "not a safetensors file at all");
  e = m.load_error();
  EXPECT_TRUE(has(e, file)) << e;
  fs::remove(m.dir / "model.safetensors");
  e = m.load_error();
  EXPECT_TRUE(has(e, file)) << e;
  try {
    BertEncoder::load((m.dir / "no-such-dir").string());
    ADD_FAILURE() << "loaded a missing folder";
  } catch (const Error& err) {
    EXPECT_TRUE(has(err.what(), "no-such-dir")) << err.what();
  }
}

TEST(Bert, RefusesBadIds) {
  BertEncoder enc = BertEncoder::from_tensors(kTiny, random_weights(kTiny, 10), "tiny");
  auto cpu = Context::cpu();
  for (const auto& [ids, part] : std::vector<std::pair<std::vector<std::vector<int32_t>>, std::string>>{
           {{{1, 2}, {}}, "sequence 1 has 0 ids"},
           {{{1, 23}}, "id 23 outside [0, 23)"},
           {{std::vector<int32_t>(21, 1)}, "21 ids"}}) {
    try {
      enc.embed_ids(*cpu, ids);
      ADD_FAILURE() << "accepted " << part;
    } catch (const Error& e) {
      EXPECT_TRUE(has(e.what(), part)) << e.what();
    }
  }
}

// ---- all-MiniLM-L6-v2 -----------------------------------------------------------

double cosine(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
  return ab / std::sqrt(aa * bb);
}

// A sanity check, not an oracle: transformers gives 0.7553 for the first
// pair and -0.0461 for the second (checked with
// tests/python/minilm_pair_transformers.py); an encoder wired wrong lands far
// from that. (The GPU machine's copy of the weights, scripts/make_gpu_carry.sh,
// keeps these sentences' embedding rows for this test.)
TEST(Bert, MiniLMSentencePairCpu) {
  const std::string dir = test::minilm_dir();
  if (dir.empty()) GTEST_SKIP() << "all-MiniLM-L6-v2 not found: set DEFTNN_MINILM_DIR or run scripts/install_deps.sh";
  auto tok = data::WordPieceTokenizer::from_model_dir(dir);
  BertEncoder enc = BertEncoder::load(dir);
  auto cpu = Context::cpu();
  const std::vector<std::vector<int32_t>> ids = {tok.encode("A man is eating food."),
                                                  tok.encode("A man is eating a piece of bread."),
                                                  tok.encode("The new movie is awesome.")};
  for (const auto& v : ids) {
    std::cout << "ids:";
    for (int32_t i : v) std::cout << ' ' << i;
    std::cout << "\n";
  }
  Tensor y = enc.embed_ids(*cpu, ids);
  const float* p = y.data<float>();
  const double similar = cosine(p, p + 384, 384), unrelated = cosine(p, p + 768, 384);
  EXPECT_NEAR(similar, 0.7553, 0.001);
  EXPECT_NEAR(unrelated, -0.0461, 0.001);
  std::cout << "cosine(food, bread) = " << similar << ", cosine(food, movie) = " << unrelated << "\n";
}

// The oracle: every case's embedding from sentence-transformers (fp32,
// transformers' BertModel) against ours from the same ids; the smallest
// cosine over the cases must be >= 0.9999 (fp32 through 6 layers differs
// by ~1e-6 relative; a wrong mask, scale or epsilon costs far more).
// In bf16 (the linear layers' products; attention, LayerNorm and GELU stay
// fp32) the bar is the one of the format: bf16's 8 significant bits round
// each input by up to 2^-9, so through 6 layers the embeddings move by
// ~1e-3 relative and their cosine to fp32's by ~1e-5 (0.9995 allowed).
void check_reference(Device dev, size_t max_cases, Precision precision = Precision::FP32, double min_cosine = 0.9999) {
  const std::string dir = test::minilm_dir();
  if (dir.empty()) GTEST_SKIP() << "all-MiniLM-L6-v2 not found: set DEFTNN_MINILM_DIR or run scripts/install_deps.sh";
  const fs::path ref = fs::path(DEFTNN_SOURCE_DIR) / "tests" / "data" / "minilm_reference.json.gz";
  if (!fs::exists(ref)) GTEST_SKIP() << ref.string() << " not found (written by tests/python/make_embedding_reference.py)";
  const std::string text = test::read_gzip(ref);
  ASSERT_FALSE(text.empty()) << "cannot read " << ref;
  const json j = json::parse(text);
  const int64_t dim = j.at("dim").get<int64_t>();
  const auto& cases = j.at("cases");
  const size_t count = std::min(max_cases, cases.size());
  auto tok = data::WordPieceTokenizer::from_model_dir(dir);
  BertEncoder enc = BertEncoder::load(dir);
  ASSERT_EQ(enc.dim(), dim);
  std::vector<std::vector<int32_t>> ids;
  size_t tokenizer_differs = 0;
  for (size_t i = 0; i < count; ++i) {
    ids.push_back(cases[i].at("ids").get<std::vector<int32_t>>());
    tokenizer_differs += tok.encode(cases[i].at("text").get<std::string>()) != ids.back();
  }
  EXPECT_EQ(tokenizer_differs, 0u) << "texts whose ids differ from our tokenizer's";
  ExecPlan plan;
  plan.defaults.precision = precision;
  enc.set_exec_plan(plan);
  auto ctx = Context::make(dev);
  Tensor y = enc.embed_ids(*ctx, ids);
  double worst = 2, max_abs = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < count; ++i) {
    const auto want = cases[i].at("embedding").get<std::vector<float>>();
    ASSERT_EQ(int64_t(want.size()), dim) << "case " << i;
    const float* got = y.data<float>() + int64_t(i) * dim;
    const double c = cosine(got, want.data(), dim);
    for (int64_t k = 0; k < dim; ++k) max_abs = std::max(max_abs, std::fabs(double(got[k]) - want[size_t(k)]));
    if (c < worst) worst = c, worst_i = i;
  }
  EXPECT_GE(worst, min_cosine) << "worst case " << worst_i << ": " << cases[worst_i].at("text");
  std::cout << device_name(dev) << " " << precision_name(precision) << ": " << count << " sentences, min cosine " << worst << " (case " << worst_i
            << "), max |difference| " << max_abs << "\n";
}

TEST(Bert, MatchesTransformersReferenceCpu) { check_reference(Device::CPU, 200); }
TEST(Bert, MatchesTransformersReferenceCuda) {
  DEFTNN_REQUIRE_GPU();
  check_reference(Device::CUDA, size_t(-1));
}
TEST(Bert, Bf16NearTransformersReferenceCpu) { check_reference(Device::CPU, 100, Precision::BF16, 0.9995); }
TEST(Bert, Bf16NearTransformersReferenceCuda) {
  DEFTNN_REQUIRE_GPU();
  check_reference(Device::CUDA, size_t(-1), Precision::BF16, 0.9995);
}

}  // namespace
}  // namespace deftnn::bert
