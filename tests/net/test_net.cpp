// Net: graph parsing and shape inference of the paper's six networks, model
// file round trips, every malformed graph or model file, finite-difference
// gradients through the net, CPU vs CUDA agreement.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "layers/conv.h"
#include "net/net.h"
#include "net/safetensors.h"
#include "test_util.h"

namespace deftnn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string model_path(const std::string& name) { return std::string(DEFTNN_SOURCE_DIR) + "/models/" + name; }

class NetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deftnn-net-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write_text(const std::string& name, const std::string& text) const {
    std::string p = path(name);
    std::ofstream(p) << text;
    return p;
  }
  fs::path dir_;
};

// Expects f() to throw an Error whose message contains every string in `parts`.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error (expected one mentioning '" << *parts.begin() << "')";
  } catch (const Error& e) {
    std::string m = e.what();
    for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "message lacks '" << p << "': " << m;
  }
}

// A small graph: 2x3x3 input, linear 6, relu, linear 4.
json small_graph() {
  return json::parse(R"({"name": "small", "input": [2, 3, 3], "classes": 4, "layers": [
      {"type": "linear", "name": "fc1", "out": 6}, {"type": "relu", "name": "relu1"},
      {"type": "linear", "name": "fc2", "out": 4}]})");
}

// ---- the six networks ---------------------------------------------------------

TEST(Models, EveryModelParses) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(std::string(DEFTNN_SOURCE_DIR) + "/models")) {
    if (e.path().extension() != ".json") continue;
    SCOPED_TRACE(e.path().string());
    Net net = Net::load(e.path().string());
    EXPECT_EQ(net.output_shape(net.size() - 1, 7), (Shape{7, net.classes()}));
    EXPECT_EQ(net.name() + ".json", e.path().filename().string());
    // graph() re-serialises to a graph that builds the same net.
    Net again = Net::from_graph(net.graph(), "re-serialised " + e.path().string());
    EXPECT_EQ(again.graph(), net.graph());
    ++n;
  }
  EXPECT_EQ(n, 6);
}

TEST(Models, LeNetShapesAndParameters) {
  Net net = Net::load(model_path("lenet.json"));
  EXPECT_EQ(net.input_shape(), (Shape{1, 28, 28}));
  ASSERT_EQ(net.size(), 7u);
  EXPECT_EQ(net.output_shape(0, 64), (Shape{64, 20, 24, 24}));  // conv1 5x5
  EXPECT_EQ(net.output_shape(1, 64), (Shape{64, 20, 12, 12}));  // pool1 2/2
  EXPECT_EQ(net.output_shape(2, 64), (Shape{64, 50, 8, 8}));    // conv2 5x5
  EXPECT_EQ(net.output_shape(3, 64), (Shape{64, 50, 4, 4}));    // pool2
  EXPECT_EQ(net.output_shape(4, 64), (Shape{64, 500}));         // ip1
  EXPECT_EQ(net.output_shape(6, 64), (Shape{64, 10}));          // ip2
  // conv1 20*1*25+20 = 520; conv2 50*20*25+50 = 25050; ip1 500*800+500 =
  // 400500; ip2 10*500+10 = 5010; total 431080 (Caffe's LeNet count).
  EXPECT_EQ(net.parameter_count(), 431080);
}

TEST(Models, CifarNetShapesAndParameters) {
  Net net = Net::load(model_path("cifarnet.json"));
  EXPECT_EQ(net.input_shape(), (Shape{1, 32, 32}));
  ASSERT_EQ(net.size(), 12u);
  EXPECT_EQ(net.output_shape(0, 2), (Shape{2, 32, 32, 32}));  // conv1 5x5 pad 2
  EXPECT_EQ(net.output_shape(1, 2), (Shape{2, 32, 16, 16}));  // pool1 3/2, rounded up as in Caffe
  EXPECT_EQ(net.output_shape(6, 2), (Shape{2, 32, 8, 8}));    // pool2
  EXPECT_EQ(net.output_shape(10, 2), (Shape{2, 64, 4, 4}));   // pool3
  EXPECT_EQ(net.output_shape(11, 2), (Shape{2, 10}));         // ip1
  // conv1 32*1*25+32 = 832; conv2 32*32*25+32 = 25632; conv3 64*32*25+64 =
  // 51264; ip1 10*1024+10 = 10250; total 87978 (Caffe's cifar10_full, 89578
  // with 3 input channels, less 2*32*25 = 1600 for our 1-channel input).
  EXPECT_EQ(net.parameter_count(), 87978);
}

TEST(Models, CaffeNetShapesAndParameters) {
  // Shared trunk: conv1 96*3*121+96 = 34944; conv2 256*48*25+256 = 307456;
  // conv3 384*256*9+384 = 885120; conv4 384*192*9+384 = 663936; conv5
  // 256*192*9+256 = 442624; fc6 4096*9216+4096 = 37752832; fc7 4096*4096+4096
  // = 16781312; sum 56868224. fc8 adds N*4096+N: 1000 -> 4097000 (total
  // 60965224, Caffe's bvlc_reference_caffenet), 20 -> 81940, 102 -> 417894,
  // 5 -> 20485.
  const struct {
    const char* file;
    int64_t classes, params;
  } cases[] = {{"caffenet-imc.json", 1000, 60965224},
               {"caffenet-fls.json", 20, 56868224 + 81940},
               {"caffenet-oxf.json", 102, 56868224 + 417894},
               {"caffenet-sos.json", 5, 56868224 + 20485}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    Net net = Net::load(model_path(c.file));
    EXPECT_EQ(net.input_shape(), (Shape{3, 227, 227}));
    EXPECT_EQ(net.classes(), c.classes);
    ASSERT_EQ(net.size(), 22u);
    EXPECT_EQ(net.output_shape(0, 1), (Shape{1, 96, 55, 55}));    // conv1 11x11 s4
    EXPECT_EQ(net.output_shape(2, 1), (Shape{1, 96, 27, 27}));    // pool1
    EXPECT_EQ(net.output_shape(4, 1), (Shape{1, 256, 27, 27}));   // conv2
    EXPECT_EQ(net.output_shape(6, 1), (Shape{1, 256, 13, 13}));   // pool2
    EXPECT_EQ(net.output_shape(12, 1), (Shape{1, 256, 13, 13}));  // conv5
    EXPECT_EQ(net.output_shape(14, 1), (Shape{1, 256, 6, 6}));    // pool5
    EXPECT_EQ(net.output_shape(15, 1), (Shape{1, 4096}));         // fc6
    EXPECT_EQ(net.output_shape(21, 128), (Shape{128, c.classes}));  // fc8
    EXPECT_EQ(net.parameter_count(), c.params);
  }
}

// ---- model files --------------------------------------------------------------

TEST_F(NetTest, SaveLoadRoundTripIsBitExact) {
  Net net = Net::load(model_path("lenet.json"));
  net.init(1234);
  net.metadata()["sve"] = {{"conv2", {{"alpha", 0.9}, {"kept", {0, 3, 5}}}}};
  net.metadata()["note"] = "round trip";
  std::string p = path("lenet.safetensors");
  net.save(p);
  Net back = Net::load(p);
  EXPECT_EQ(back.graph(), net.graph());
  EXPECT_EQ(back.metadata(), net.metadata());
  EXPECT_EQ(back.name(), "lenet");
  auto a = net.params(), b = back.params();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i]->value.shape(), b[i]->value.shape()) << a[i]->name;
    EXPECT_EQ(std::memcmp(a[i]->value.raw(), b[i]->value.raw(), a[i]->value.nbytes()), 0) << a[i]->name;
  }
  // The file's tensors are named <layer>.<param> and its metadata strings.
  TensorFile tf = read_safetensors(p);
  EXPECT_TRUE(tf.tensors.count("conv1.weight"));
  EXPECT_TRUE(tf.tensors.count("ip2.bias"));
  EXPECT_EQ(tf.metadata.at("deftnn.version"), "2");
  EXPECT_EQ(json::parse(tf.metadata.at("deftnn.graph")), net.graph());
  // Saving the loaded net again gives the same bytes.
  std::string p2 = path("again.safetensors");
  back.save(p2);
  std::ifstream f1(p, std::ios::binary), f2(p2, std::ios::binary);
  std::string s1((std::istreambuf_iterator<char>(f1)), {}), s2((std::istreambuf_iterator<char>(f2)), {});
  EXPECT_EQ(s1, s2);
}

TEST_F(NetTest, InitIsSeededPerLayer) {
  Net a = Net::load(model_path("lenet.json")), b = Net::load(model_path("lenet.json"));
  a.init(7);
  b.init(7);
  auto cpu = Context::cpu();
  auto pa = a.params(), pb = b.params();
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(pa[i]->value.to_vector(*cpu), pb[i]->value.to_vector(*cpu)) << pa[i]->name;
  b.init(8);
  EXPECT_NE(pa[0]->value.to_vector(*cpu), b.params()[0]->value.to_vector(*cpu));
}

TEST_F(NetTest, CorruptModelFilesAreRefused) {
  Net net = Net::load(model_path("lenet.json"));
  net.init(1);
  std::string good = path("good.safetensors");
  net.save(good);
  TensorFile tf = read_safetensors(good);

  auto variant = [&](const std::string& name, auto&& edit) {
    TensorFile t = tf;
    edit(t);
    std::string p = path(name);
    write_safetensors(p, t);
    return p;
  };
  std::string p = variant("missing.safetensors", [](TensorFile& t) { t.tensors.erase("conv2.weight"); });
  expect_error([&] { Net::load(p); }, {p, "missing tensor 'conv2.weight'"});
  p = variant("extra.safetensors", [](TensorFile& t) { t.tensors["conv9.weight"] = Tensor::from_vector({1}, {1.f}); });
  expect_error([&] { Net::load(p); }, {p, "extra tensor 'conv9.weight'"});
  p = variant("shape.safetensors",
              [](TensorFile& t) { t.tensors["ip2.bias"] = Tensor::from_vector({2, 5}, std::vector<float>(10, 0.f)); });
  expect_error([&] { Net::load(p); }, {p, "tensor 'ip2.bias' has shape (2, 5) but the graph needs (10)"});
  p = variant("dtype.safetensors", [](TensorFile& t) { t.tensors["ip2.bias"] = Tensor::empty({10}, DType::F64); });
  expect_error([&] { Net::load(p); }, {p, "tensor 'ip2.bias' has dtype F64"});
  p = variant("nograph.safetensors", [](TensorFile& t) { t.metadata.erase("deftnn.graph"); });
  expect_error([&] { Net::load(p); }, {p, "not a deftnn model"});
  p = variant("badgraph.safetensors", [](TensorFile& t) { t.metadata["deftnn.graph"] = "{nope"; });
  expect_error([&] { Net::load(p); }, {p, "deftnn.graph", "not valid JSON"});
  p = variant("badmeta.safetensors", [](TensorFile& t) { t.metadata["deftnn.meta"] = "[1,"; });
  expect_error([&] { Net::load(p); }, {p, "deftnn.meta", "not valid JSON"});
  p = variant("version.safetensors", [](TensorFile& t) { t.metadata["deftnn.version"] = "99"; });
  expect_error([&] { Net::load(p); }, {p, "version '99'"});
  p = variant("layer.safetensors", [](TensorFile& t) {
    json g = json::parse(t.metadata["deftnn.graph"]);
    g["layers"][1]["type"] = "warp";
    t.metadata["deftnn.graph"] = g.dump();
  });
  expect_error([&] { Net::load(p); }, {p, "unknown type 'warp'", "layers[1]"});

  // Byte-level damage to a real model file.
  std::ifstream f(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  std::string truncated = path("truncated.safetensors");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  expect_error([&] { Net::load(truncated); }, {truncated, "run past the end of the data"});
  std::string tiny = path("tiny.safetensors");
  std::ofstream(tiny, std::ios::binary) << bytes.substr(0, 5);
  expect_error([&] { Net::load(tiny); }, {tiny, "shorter than the 8-byte header size"});
  std::string headless = path("headless.safetensors");
  std::ofstream(headless, std::ios::binary) << bytes.substr(0, 40);
  expect_error([&] { Net::load(headless); }, {headless, "larger than the 32 bytes that follow"});
  expect_error([&] { Net::load(path("absent.safetensors")); }, {path("absent.safetensors"), "cannot open"});
}

TEST_F(NetTest, FailedSaveLeavesNoFile) {
  Net net = Net::load(model_path("lenet.json"));
  net.init(1);
  std::string p = path("no-such-dir/lenet.safetensors");
  expect_error([&] { net.save(p); }, {p, "cannot write"});
  EXPECT_FALSE(fs::exists(path("no-such-dir")));
  // Target is an existing directory: refused before anything is written, the
  // no temporary file is left.
  std::string d = path("occupied");
  fs::create_directories(fs::path(d) / "x");
  expect_error([&] { net.save(d); }, {d, "it is a folder"});
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << "left behind: " << e.path();
}

// ---- malformed graphs ---------------------------------------------------------

TEST_F(NetTest, MalformedGraphsAreRefused) {
  auto check = [&](const std::string& name, const json& g, std::initializer_list<std::string> parts) {
    std::string p = write_text(name, g.dump());
    std::vector<std::string> all{p};
    all.insert(all.end(), parts.begin(), parts.end());
    try {
      Net::load(p);
      ADD_FAILURE() << name << ": no error";
    } catch (const Error& e) {
      std::string m = e.what();
      for (const auto& s : all) EXPECT_NE(m.find(s), std::string::npos) << name << ": message lacks '" << s << "': " << m;
    }
  };
  json g = small_graph();
  json bad = g;
  bad["colour"] = "blue";
  check("unknown-key.json", bad, {"unknown key 'colour'"});
  bad = g;
  bad.erase("layers");
  check("no-layers.json", bad, {"no 'layers' key"});
  bad = g;
  bad["input"] = {2, 3};
  check("input.json", bad, {"key 'input'", "[C, H, W]"});
  bad = g;
  bad["input"] = "2x3x3";
  check("input-type.json", bad, {"key 'input'"});
  bad = g;
  bad["classes"] = "four";
  check("classes.json", bad, {"key 'classes'"});
  bad = g;
  bad["name"] = 5;
  check("name.json", bad, {"key 'name'"});
  bad = g;
  bad["layers"] = json::object();
  check("layers.json", bad, {"key 'layers'"});
  bad = g;
  bad["layers"][1]["type"] = "warp";
  check("type.json", bad, {"layers[1]", "unknown type 'warp'"});
  bad = g;
  bad["layers"][1].erase("type");
  check("notype.json", bad, {"layers[1]", "'type'"});
  bad = g;
  bad["layers"][2]["name"] = "fc1";
  check("dup.json", bad, {"duplicate layer name 'fc1'"});
  bad = g;
  bad["layers"][2]["out"] = 5;
  check("classes-mismatch.json", bad, {"last layer 'fc2'", "(1, 5)", "4 classes"});
  // A conv whose kernel does not fit the image, and a graph whose flatten
  // output is not (N, classes).
  json conv = json::parse(R"({"name": "c", "input": [1, 4, 4], "classes": 3, "layers": [
      {"type": "conv", "name": "conv1", "out": 3, "kernel": 5}]})");
  check("conv-too-big.json", conv, {"conv1", "(1, 1, 4, 4)"});
  json flat = json::parse(R"({"name": "f", "input": [1, 2, 2], "classes": 3, "layers": [
      {"type": "flatten", "name": "flat"}]})");
  check("not-logits.json", flat, {"last layer 'flat'", "(1, 4)"});
  std::string p = write_text("broken.json", "{\"name\": ");
  expect_error([&] { Net::load(p); }, {p, "not valid JSON"});
  expect_error([&] { Net::load(path("absent.json")); }, {path("absent.json"), "cannot open"});
}

// ---- forward / backward -------------------------------------------------------

// Loss L = sum(logits * R) for a fixed R, so dL/dlogits = R. Central
// differences in fp32 with step h = 1e-2: the nets here are piecewise linear
// (linear, relu), so the difference is exact unless a relu flips inside the
// step; the tolerance 2e-3 covers fp32 rounding of L (|L| ~ 10, eps 6e-8,
// divided by 2h).
TEST(NetGradient, MatchesFiniteDifferences) {
  Net net = Net::from_graph(small_graph(), "small");
  net.init(42);
  auto ctx = Context::cpu();
  const int64_t n = 5;
  Tensor x = test::random_tensor({n, 2, 3, 3}, 11);
  Tensor r = test::random_tensor({n, 4}, 12);
  auto loss = [&] {
    std::vector<float> y = net.forward(*ctx, x, true).to_vector(*ctx), rv = r.to_vector(*ctx);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += double(y[i]) * rv[i];
    return s;
  };
  loss();
  net.backward(*ctx, r);
  auto params = net.params();
  ASSERT_EQ(params.size(), 4u);
  int checked = 0;
  for (Param* p : params) {
    std::vector<float> grad = p->grad.to_vector(*ctx);
    for (int64_t idx : {int64_t(0), p->value.numel() / 2, p->value.numel() - 1}) {
      float* v = p->value.data<float>() + idx;
      float saved = *v;
      const float h = 1e-2f;
      *v = saved + h;
      double lp = loss();
      *v = saved - h;
      double lm = loss();
      *v = saved;
      double fd = (lp - lm) / (2 * h);
      EXPECT_NEAR(grad[size_t(idx)], fd, 2e-3 + 1e-3 * std::fabs(fd)) << p->name << "[" << idx << "]";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 12);
}

TEST(NetForward, ReusesActivationsAndChecksInput) {
  Net net = Net::from_graph(small_graph(), "small");
  net.init(1);
  auto ctx = Context::cpu();
  Tensor x = test::random_tensor({3, 2, 3, 3}, 5);
  const Tensor& y1 = net.forward(*ctx, x, false);
  const void* buf = y1.raw();
  std::vector<float> v1 = y1.to_vector(*ctx);
  const Tensor& y2 = net.forward(*ctx, x, false);
  EXPECT_EQ(y2.raw(), buf);  // same batch size: same buffers
  EXPECT_EQ(y2.to_vector(*ctx), v1);
  EXPECT_EQ(net.forward(*ctx, test::random_tensor({5, 2, 3, 3}, 6), false).shape(), (Shape{5, 4}));
  expect_error([&] { net.forward(*ctx, test::random_tensor({3, 2, 3, 4}, 5), false); },
               {"small", "(3, 2, 3, 4)", "(N, 2, 3, 3)"});
  Net fresh = Net::from_graph(small_graph(), "small");
  expect_error([&] { fresh.backward(*ctx, test::random_tensor({3, 4}, 1)); }, {"backward() before forward()"});
}

// ---- CPU vs CUDA ----------------------------------------------------------------

// LeNet on the GPU against the same weights on the CPU. Tolerance: both sides
// accumulate in fp32 with K up to 800 (ip1), in different orders: a few
// 1e-6 relative per layer; 1e-4 absolute on logits of size ~1 leaves margin.
TEST(NetCuda, LeNetForwardMatchesCpu) {
  DEFTNN_REQUIRE_GPU();
  Net cpu_net = Net::load(model_path("lenet.json"));
  cpu_net.init(99);
  Net gpu_net = Net::load(model_path("lenet.json"));
  gpu_net.init(99);
  auto cpu = Context::cpu();
  auto gpu = Context::cuda();
  gpu_net.to(*gpu);
  EXPECT_EQ(gpu_net.device(), Device::CUDA);
  for (Param* p : gpu_net.params()) EXPECT_TRUE(p->value.is_cuda()) << p->name;
  Tensor x = test::random_tensor({16, 1, 28, 28}, 3, 0.f, 1.f);
  std::vector<float> want = cpu_net.forward(*cpu, x, false).to_vector(*cpu);
  std::vector<float> got = gpu_net.forward(*gpu, x.to(Device::CUDA, *gpu), false).to_vector(*gpu);
  EXPECT_TRUE(test::all_close(got, want, 1e-4, 1e-4, "LeNet logits GPU vs CPU"));
  // Saving from the GPU writes the same weights.
  std::string saved = (fs::temp_directory_path() / ("deftnn-gpu-" + std::to_string(::getpid()) + ".safetensors")).string();
  gpu_net.save(saved);
  Net reloaded = Net::load(saved);
  fs::remove(saved);
  EXPECT_EQ(reloaded.forward(*cpu, x, false).to_vector(*cpu), want);
  // And back to the CPU: the same weights give the same logits bit for bit.
  gpu_net.to(*cpu);
  std::vector<float> back = gpu_net.forward(*cpu, x, false).to_vector(*cpu);
  EXPECT_EQ(back, want);
}

// ---- Inference fusion --------------------------------------------------------

// Conv-ReLU-pool-LRN, grouped conv-ReLU (no bias: the epilogue runs for the
// ReLU alone), linear-leaky ReLU-dropout, linear-ReLU-dropout, linear: every
// fusion case. The fused pass applies max(v, slope*v) to the very fp32 values
// the unfused pass writes, so the logits agree bit for bit.
json fusion_graph() {
  return json::parse(R"({"name": "fusion", "input": [3, 9, 9], "classes": 5, "layers": [
      {"type": "conv", "name": "c1", "out": 4, "kernel": 3, "pad": 1, "bias_value": 0.1},
      {"type": "relu", "name": "r1"},
      {"type": "maxpool", "name": "p1", "kernel": 3, "stride": 2},
      {"type": "lrn", "name": "n1", "local_size": 3, "alpha": 0.001, "beta": 0.75, "k": 1.0},
      {"type": "conv", "name": "c2", "out": 6, "kernel": 2, "groups": 2, "bias": false},
      {"type": "relu", "name": "r2"},
      {"type": "linear", "name": "f1", "out": 7, "bias_value": 0.05},
      {"type": "relu", "name": "r3", "negative_slope": 0.1},
      {"type": "dropout", "name": "d1", "ratio": 0.5},
      {"type": "linear", "name": "f2", "out": 6},
      {"type": "relu", "name": "r4"},
      {"type": "dropout", "name": "d2", "ratio": 0.3},
      {"type": "linear", "name": "f3", "out": 5}]})");
}

void check_fusion(Context& ctx, int64_t batch) {
  Net fused = Net::from_graph(fusion_graph(), "fusion");
  Net plain = Net::from_graph(fusion_graph(), "fusion");
  fused.init(7);
  plain.init(7);
  plain.fuse_inference = false;
  fused.trunk_fusion = Net::TrunkFusion::Off;  // NCHW everywhere: check_trunk covers the rest
  fused.to(ctx);
  plain.to(ctx);
  using S = Net::InferStep;
  std::vector<S> steps;
  std::vector<int> relu;
  for (const auto& e : fused.inference_plan()) {
    steps.push_back(e.step);
    relu.push_back(e.args.relu);
    EXPECT_EQ(e.args.in, Layout::NCHW);
    EXPECT_EQ(e.args.out, Layout::NCHW);
    EXPECT_FALSE(e.args.defer);
    EXPECT_EQ(e.pending_from, -1);
  }
  EXPECT_EQ(steps, (std::vector<S>{S::Run, S::Fused, S::Run, S::Run, S::Run, S::Fused, S::Run, S::Fused, S::Skip,
                                   S::Run, S::Fused, S::Skip, S::Run}));
  EXPECT_EQ(relu, (std::vector<int>{1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0}));
  EXPECT_FLOAT_EQ(fused.inference_plan()[6].args.slope, 0.1f);
  for (const auto& e : plain.inference_plan()) {
    EXPECT_EQ(e.step, S::Run);
    EXPECT_TRUE(e.args.plain());
  }

  Tensor x = test::random_tensor({batch, 3, 9, 9}, 21).to(ctx.device(), ctx);
  std::vector<float> want = plain.forward(ctx, x, false).to_vector(ctx);
  std::vector<float> got = fused.forward(ctx, x, false).to_vector(ctx);
  ASSERT_EQ(got.size(), size_t(batch * 5));
  EXPECT_EQ(got, want) << device_name(ctx.device()) << " batch " << batch;

  // Backward after a fused inference pass is refused; after a training pass it works.
  expect_error([&] { fused.backward(ctx, test::random_tensor({batch, 5}, 3).to(ctx.device(), ctx)); },
               {"fusion", "fused inference forward"});
  fused.forward(ctx, x, true);
  fused.backward(ctx, test::random_tensor({batch, 5}, 3).to(ctx.device(), ctx));
  // Training forward is unfused: the same as the plain net's training forward
  // (the dropout masks of both nets are the first of the same seed).
  Net plain2 = Net::from_graph(fusion_graph(), "fusion");
  Net fused2 = Net::from_graph(fusion_graph(), "fusion");
  plain2.init(7), fused2.init(7);
  plain2.fuse_inference = false;
  plain2.to(ctx), fused2.to(ctx);
  EXPECT_EQ(fused2.forward(ctx, x, true).to_vector(ctx), plain2.forward(ctx, x, true).to_vector(ctx));
}

// The channel-major trunk (Net::TrunkFusion): a conv trunk in CNHW with
// deferred epilogues. Every case: conv -> pool (bias + ReLU deferred into the
// max), conv -> conv (deferred into im2col, padded and grouped), leaky ReLU,
// a ReLU that is not fused (after a pool), LRN in CNHW, a pool that converts
// CNHW -> NCHW before flatten/linear, an avg pool (which cannot absorb) and a
// conv chunked over the batch.
json trunk_graph() {
  return json::parse(R"({"name": "trunk", "input": [3, 11, 11], "classes": 4, "layers": [
      {"type": "conv", "name": "c1", "out": 6, "kernel": 3, "pad": 1, "bias_value": 0.1},
      {"type": "relu", "name": "r1"},
      {"type": "maxpool", "name": "p1", "kernel": 3, "stride": 2},
      {"type": "relu", "name": "r1b"},
      {"type": "lrn", "name": "n1", "local_size": 3, "alpha": 0.001, "beta": 0.75, "k": 1.0},
      {"type": "conv", "name": "c2", "out": 8, "kernel": 3, "pad": 1, "groups": 2, "bias_value": -0.05},
      {"type": "relu", "name": "r2", "negative_slope": 0.1},
      {"type": "conv", "name": "c3", "out": 6, "kernel": 3, "pad": 1, "groups": 2, "bias_value": 0.02},
      {"type": "relu", "name": "r3"},
      {"type": "conv", "name": "c4", "out": 5, "kernel": 2},
      {"type": "avgpool", "name": "p2", "kernel": 2, "stride": 1},
      {"type": "maxpool", "name": "p3", "kernel": 2, "stride": 1, "pad": 1},
      {"type": "linear", "name": "f1", "out": 4}]})");
}

void check_trunk(Context& ctx, int64_t batch, bool exact) {
  Net trunk = Net::from_graph(trunk_graph(), "trunk");
  Net plain = Net::from_graph(trunk_graph(), "trunk");
  trunk.init(5), plain.init(5);
  // Random biases (the fillers give constants): a wrong channel index shows.
  for (Net* net : {&trunk, &plain})
    for (Param* p : net->params())
      if (p->name == "bias") p->value = test::random_tensor(p->value.shape(), 99, -0.3f, 0.3f);
  trunk.trunk_fusion = Net::TrunkFusion::On;
  plain.fuse_inference = false;
  trunk.to(ctx), plain.to(ctx);
  dynamic_cast<Conv2d*>(trunk.find("c3"))->chunk_images_override = 2;  // GEMM writes column ranges of CNHW rows

  const std::vector<Net::InferPlanEntry> plan = trunk.inference_plan();
  const Layout N = Layout::NCHW, C = Layout::CNHW;
  // run: c1 p1 r1b n1 c2 c3 c4 p2 p3 f1
  std::vector<std::pair<Layout, Layout>> want_layouts{{N, C}, {C, C}, {C, C}, {C, C}, {C, C},
                                                      {C, C}, {C, C}, {C, C}, {C, N}, {N, N}};
  std::vector<size_t> run{0, 2, 3, 4, 5, 7, 9, 10, 11, 12};
  for (size_t k = 0; k < run.size(); ++k) {
    const auto& a = plan[run[k]].args;
    EXPECT_EQ(a.in, want_layouts[k].first) << trunk.layer(run[k]).name();
    EXPECT_EQ(a.out, want_layouts[k].second) << trunk.layer(run[k]).name();
  }
  EXPECT_TRUE(plan[0].args.defer);  // c1 -> p1 (max)
  EXPECT_EQ(plan[2].pending_from, 0);
  EXPECT_TRUE(plan[5].args.defer);  // c2 -> c3 (im2col)
  EXPECT_EQ(plan[7].pending_from, 5);
  EXPECT_FLOAT_EQ(plan[7].args.pending.slope, 0.1f);
  EXPECT_TRUE(plan[7].args.defer);  // c3 -> c4
  EXPECT_EQ(plan[9].pending_from, 7);
  EXPECT_FALSE(plan[9].args.defer);  // c4 -> avg pool: no
  EXPECT_EQ(plan[10].pending_from, -1);

  Tensor x = test::random_tensor({batch, 3, 11, 11}, 31).to(ctx.device(), ctx);
  std::vector<float> want = plain.forward(ctx, x, false).to_vector(ctx);
  std::vector<float> got = trunk.forward(ctx, x, false).to_vector(ctx);
  ASSERT_EQ(got.size(), want.size());
  if (exact) {
    // CPU: the same fp32 operations in the same order per value; a deferred
    // bias + ReLU after a max gives the same value as before it (fl(a + b) is
    // monotone in a).
    EXPECT_EQ(got, want) << "batch " << batch;
  } else {
    // CUDA: cuBLAS may pick another kernel (summation order) for the CNHW
    // output stride; 4 GEMM layers of K <= 54 at |x| <= ~3: 1e-5 relative.
    double scale = 0;
    for (float v : want) scale = std::max(scale, double(std::fabs(v)));
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 * scale + 1e-6) << i;
  }
  // The same net with trunk fusion off agrees too (Off is the CPU default).
  trunk.trunk_fusion = Net::TrunkFusion::Off;
  std::vector<float> off = trunk.forward(ctx, x, false).to_vector(ctx);
  for (size_t i = 0; i < off.size(); ++i) EXPECT_NEAR(off[i], want[i], 1e-5 * std::fabs(want[i]) + 1e-6) << i;
}

TEST(NetFusion, CpuChannelMajorTrunkMatchesUnfused) {
  auto ctx = Context::cpu();
  check_trunk(*ctx, 1, true);
  check_trunk(*ctx, 5, true);
}

TEST(NetFusion, CudaChannelMajorTrunkMatchesUnfused) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  check_trunk(*ctx, 1, false);
  check_trunk(*ctx, 5, false);
}

TEST(NetFusion, CpuFusedInferenceMatchesUnfused) {
  auto ctx = Context::cpu();
  check_fusion(*ctx, 1);
  check_fusion(*ctx, 3);
}

TEST(NetFusion, CudaFusedInferenceMatchesUnfused) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  check_fusion(*ctx, 1);
  check_fusion(*ctx, 4);
}

}  // namespace
}  // namespace deftnn

namespace deftnn::test {
namespace {

// Old graphs carry the GEMM configuration per layer ("gemm"); it loads into
// the layers' LayerExec. graph() no longer writes it: model files keep the
// execution plan in their metadata (tests/plan/test_exec_plan.cpp).
TEST(NetGemmConfig, OldPerLayerEntriesLoadAndAreNotWrittenBack) {
  nlohmann::json g = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/lenet.json").graph();
  g["layers"][2]["gemm"] = {{"backend", "fission"}, {"format", "deft16q"}, {"placement", "onchip"}};
  Net net = Net::from_graph(g, "old.json");
  const LayerExec& e = net.find("conv2")->as_gemm()->exec();
  EXPECT_EQ(e.kernel, KernelFamily::Fission);
  EXPECT_EQ(e.format, (Format{FormatKind::Deft16Q}));
  EXPECT_EQ(net.find("conv1")->as_gemm()->exec(), LayerExec{});
  EXPECT_FALSE(net.graph()["layers"][2].contains("gemm"));
}

TEST(NetGemmConfig, BadGemmEntriesNameTheProblem) {
  nlohmann::json g = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/lenet.json").graph();
  auto expect_error = [&](const nlohmann::json& gemm, size_t layer, const std::string& words) {
    nlohmann::json bad = g;
    bad["layers"][layer]["gemm"] = gemm;
    try {
      Net::from_graph(bad, "bad.json");
      ADD_FAILURE() << "no error for " << gemm.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
    }
  };
  expect_error({{"format", "deft9"}}, 0, "unknown number format 'deft9'");
  expect_error({{"backend", "magic"}}, 0, "unknown kernel 'magic' (known: auto, cpu-blas");
  expect_error({{"speed", "fast"}}, 0, "unknown key 'gemm.speed'");
  expect_error({{"format", "half"}}, 1, "runs no GEMM");  // pool1
}

}  // namespace
}  // namespace deftnn::test
