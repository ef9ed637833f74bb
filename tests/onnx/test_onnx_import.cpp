// ONNX import: models built here with the ONNX protobuf classes. The
// operators against ONNX Runtime are tests/python/check_onnx_ort.py; here,
// an exact Gemm (small integers, so the check is bit for bit), the
// BatchNormalization fold against a float64 reference, the .npy reader,
// and every kind of bad model: each must throw a deftnn::Error naming the
// file and the problem (any other exception fails the test).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "net/net.h"
#include "net/npy.h"
#include "test_util.h"

namespace deftnn {
namespace {

namespace fs = std::filesystem;

// One folder per test process for the files the tests write, removed when
// the process exits (ctest runs each test as its own process: without this,
// every run left a folder in /tmp).
struct TempFolder {
  fs::path dir = fs::temp_directory_path() / ("deftnn_onnx_test_" + std::to_string(::getpid()));
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::string temp_path(const std::string& name) {
  static TempFolder folder;
  fs::create_directories(folder.dir);
  return (folder.dir / name).string();
}

onnx::TensorProto float_tensor(const std::string& name, const Shape& shape, const std::vector<float>& v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : shape) t.add_dims(d);
  for (float x : v) t.add_float_data(x);
  return t;
}

// A model of one input "x" (batch symbolic, then `chw`) and output `out`.
onnx::ModelProto make_model(const Shape& chw, const std::string& out) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("t");
  auto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("N");
  for (int64_t d : chw) tt->mutable_shape()->add_dim()->set_dim_value(d);
  auto* o = g->add_output();
  o->set_name(out);
  o->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  return m;
}

onnx::NodeProto* add_node(onnx::ModelProto& m, const std::string& op, const std::vector<std::string>& in,
                          const std::string& out, const std::string& name) {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : in) n->add_input(i);
  n->add_output(out);
  return n;
}

void add_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void add_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

std::string save(const onnx::ModelProto& m, const std::string& name) {
  const std::string p = temp_path(name);
  std::ofstream(p, std::ios::binary) << m.SerializeAsString();
  return p;
}

// A conv model that loads: x (N, 2, 4, 4) -> Conv 3x3 pad 1 -> BN -> Relu.
onnx::ModelProto conv_bn_model() {
  onnx::ModelProto m = make_model({2, 4, 4}, "y");
  auto* g = m.mutable_graph();
  *g->add_initializer() = float_tensor("w", {3, 2, 3, 3}, test::random_vector(54, 1));
  *g->add_initializer() = float_tensor("gamma", {3}, {1.5f, 0.5f, -1.f});
  *g->add_initializer() = float_tensor("beta", {3}, {0.1f, -0.2f, 0.3f});
  *g->add_initializer() = float_tensor("mean", {3}, {0.05f, -0.1f, 0.2f});
  *g->add_initializer() = float_tensor("var", {3}, {0.5f, 2.f, 1.f});
  auto* c = add_node(m, "Conv", {"x", "w"}, "c", "conv.0");
  add_ints(c, "pads", {1, 1, 1, 1});
  add_ints(c, "kernel_shape", {3, 3});
  add_node(m, "BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, "b", "bn");
  add_node(m, "Relu", {"b"}, "y", "relu");
  return m;
}

// Runs f, which must throw a deftnn::Error holding every word.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& words) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one with " << words[0];
  } catch (const Error& e) {
    for (const auto& w : words) EXPECT_NE(e.message().find(w), std::string::npos) << "'" << w << "' not in: " << e.message();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a deftnn::Error: " << e.what();
  }
}

TEST(OnnxImport, GemmExactWithSmallIntegers) {
  // y = x B + C with B (K, N) (transB 0): integers, so fp32 is exact.
  const int64_t n = 3, k = 5, out = 4;
  onnx::ModelProto m = make_model({k}, "y");
  const auto b = test::small_int_vector(size_t(k * out), 2), c = test::small_int_vector(size_t(out), 3);
  *m.mutable_graph()->add_initializer() = float_tensor("B", {k, out}, b);
  *m.mutable_graph()->add_initializer() = float_tensor("C", {out}, c);
  add_node(m, "Gemm", {"x", "B", "C"}, "y", "fc");
  Net net = Net::load(save(m, "gemm.onnx"));
  const auto xv = test::small_int_vector(size_t(n * k), 4);
  auto ctx = Context::cpu();
  const Tensor y = net.forward(*ctx, Tensor::from_vector({n, k}, xv), false);
  ASSERT_EQ(y.shape(), (Shape{n, out}));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double want = c[size_t(o)];
      for (int64_t i = 0; i < k; ++i) want += double(xv[size_t(r * k + i)]) * b[size_t(i * out + o)];
      EXPECT_EQ(y.data<float>()[r * out + o], float(want)) << "row " << r << " col " << o;
    }
}

TEST(OnnxImport, BatchNormFoldsIntoConv) {
  onnx::ModelProto m = conv_bn_model();
  Net net = Net::load(save(m, "conv_bn.onnx"));
  ASSERT_EQ(net.size(), 2u) << "conv and relu; the BatchNormalization is folded";
  EXPECT_EQ(net.layer(0).type(), "conv");
  EXPECT_EQ(net.layer(0).name(), "conv_0");  // '.' is not allowed in layer names
  const Tensor x = test::random_tensor({2, 2, 4, 4}, 5);
  auto ctx = Context::cpu();
  const Tensor y = net.forward(*ctx, x, false);
  // float64 reference: conv, then BN, then ReLU, from the initializers.
  const auto& init = m.graph().initializer();
  auto f = [&](int t, int64_t k) { return double(init[t].float_data(int(k))); };
  std::vector<double> ref;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t o = 0; o < 3; ++o)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t w = 0; w < 4; ++w) {
          double s = 0;
          for (int64_t c = 0; c < 2; ++c)
            for (int64_t i = 0; i < 3; ++i)
              for (int64_t j = 0; j < 3; ++j) {
                const int64_t hh = h + i - 1, ww = w + j - 1;
                if (hh < 0 || hh >= 4 || ww < 0 || ww >= 4) continue;
                s += f(0, ((o * 2 + c) * 3 + i) * 3 + j) * x.data<float>()[((b * 2 + c) * 4 + hh) * 4 + ww];
              }
          const double v = (s - f(3, o)) / std::sqrt(f(4, o) + 1e-5) * f(1, o) + f(2, o);
          ref.push_back(std::max(v, 0.0));
        }
  std::vector<float> got(y.data<float>(), y.data<float>() + y.numel());
  // 18 products, one rounding more for the folded weight: 8 eps sqrt(K) relative.
  EXPECT_TRUE(test::all_close(got, ref, 8 * 1.2e-7 * std::sqrt(18.0) * 4, 8 * 1.2e-7 * std::sqrt(18.0)));
}

TEST(OnnxImport, SavesAsAModelFileThatRunsTheSame) {
  // An imported net is an ordinary Net: saved as safetensors (graph, weights,
  // plan) it loads back and computes the same values, bit for bit.
  Net net = Net::load(save(conv_bn_model(), "to_model.onnx"));
  const std::string st = temp_path("from_onnx.safetensors");
  net.save(st);
  Net back = Net::load(st);
  const Tensor x = test::random_tensor({3, 2, 4, 4}, 8);
  auto ctx = Context::cpu();
  const Tensor a = net.forward(*ctx, x, false);
  const Tensor b = back.forward(*ctx, x, false);
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t k = 0; k < a.numel(); ++k) ASSERT_EQ(a.data<float>()[k], b.data<float>()[k]) << "element " << k;
}

TEST(OnnxImport, InspectsThroughReadGraphFile) {
  const std::string p = save(conv_bn_model(), "graph_of.onnx");
  const nlohmann::json g = Net::read_graph_file(p);
  EXPECT_EQ(g["layers"].size(), 2u);
  EXPECT_EQ(g["inputs"][0]["shape"], nlohmann::json({2, 4, 4}));
}

TEST(OnnxImport, BadModelsNameTheFileAndTheProblem) {
  {  // truncated
    const std::string blob = conv_bn_model().SerializeAsString();
    const std::string p = temp_path("truncated.onnx");
    std::ofstream(p, std::ios::binary) << blob.substr(0, blob.size() / 2);
    expect_error([&] { Net::load(p); }, {p, "does not parse"});
  }
  {  // an empty file parses as an empty message
    const std::string p = temp_path("empty.onnx");
    std::ofstream(p, std::ios::binary).flush();
    expect_error([&] { Net::load(p); }, {p, "no graph with nodes"});
  }
  {  // unknown operator
    onnx::ModelProto m = make_model({4}, "y");
    add_node(m, "Sin", {"x"}, "y", "sine");
    const std::string p = save(m, "unknown.onnx");
    expect_error([&] { Net::load(p); }, {p, "node 'sine' (Sin)", "operator 'Sin' is not supported", "Conv"});
  }
  {  // missing initializer
    onnx::ModelProto m = make_model({2, 4, 4}, "y");
    add_node(m, "Conv", {"x", "w_missing"}, "y", "c");
    const std::string p = save(m, "missing.onnx");
    expect_error([&] { Net::load(p); }, {p, "node 'c' (Conv)", "weight 'w_missing' is missing"});
  }
  {  // unsupported attribute and attribute value
    onnx::ModelProto m = conv_bn_model();
    add_int(m.mutable_graph()->mutable_node(0), "frobnicate", 1);
    const std::string p = save(m, "attr.onnx");
    expect_error([&] { Net::load(p); }, {p, "attribute 'frobnicate' is not supported", "dilations"});
    onnx::ModelProto d = conv_bn_model();
    add_ints(d.mutable_graph()->mutable_node(0), "dilations", {2, 2});
    const std::string pd = save(d, "dilated.onnx");
    expect_error([&] { Net::load(pd); }, {pd, "node 'conv.0' (Conv)", "dilations (2, 2) are not supported"});
  }
  {  // a cycle
    onnx::ModelProto m = make_model({4}, "b");
    add_node(m, "Relu", {"b"}, "a", "first");
    add_node(m, "Relu", {"a"}, "b", "second");
    const std::string p = save(m, "cycle.onnx");
    expect_error([&] { Net::load(p); }, {p, "node 'first' (Relu)", "cycle"});
  }
  {  // wrong rank
    onnx::ModelProto m = make_model({2, 4, 4}, "y");
    *m.mutable_graph()->add_initializer() = float_tensor("w", {3, 2, 3}, test::random_vector(18, 1));
    add_node(m, "Conv", {"x", "w"}, "y", "c");
    const std::string p = save(m, "rank.onnx");
    expect_error([&] { Net::load(p); }, {p, "weight of rank 3"});
  }
  {  // found by fuzz/fuzz_onnx.cpp: ONNX 1.12's own shape inference read past the input's
     // dims (a weight of higher rank, no kernel_shape) and divided by a zero stride
    onnx::ModelProto m = make_model({3, 5}, "y");
    *m.mutable_graph()->add_initializer() = float_tensor("w", {4, 3, 1, 1}, test::random_vector(12, 1));
    add_node(m, "Conv", {"x", "w"}, "y", "c");
    const std::string p = save(m, "rank_above_input.onnx");
    expect_error([&] { Net::load(p); }, {p, "node 'c' (Conv)"});
    onnx::ModelProto z = conv_bn_model();
    add_ints(z.mutable_graph()->mutable_node(0), "strides", {0, 0});
    const std::string pz = save(z, "zero_stride.onnx");
    expect_error([&] { Net::load(pz); }, {pz, "node 'conv.0' (Conv)", "strides"});
    onnx::ModelProto q = make_model({2, 4, 4}, "y");
    auto* mp = add_node(q, "MaxPool", {"x"}, "y", "pool");
    add_ints(mp, "kernel_shape", {2, 2});
    add_ints(mp, "strides", {0, 1});
    const std::string pq = save(q, "zero_stride_pool.onnx");
    expect_error([&] { Net::load(pq); }, {pq, "node 'pool' (MaxPool)"});
  }
  {  // dimensions whose product overflows, and a tensor shorter than its shape
    onnx::ModelProto m = make_model({4}, "y");
    onnx::TensorProto t = float_tensor("B", {}, {1.f});
    t.add_dims(int64_t(1) << 40);
    t.add_dims(int64_t(1) << 40);
    *m.mutable_graph()->add_initializer() = t;
    add_node(m, "MatMul", {"x", "B"}, "y", "mm");
    const std::string p = save(m, "overflow.onnx");
    expect_error([&] { Net::load(p); }, {p, "initializer 'B'", "overflows"});
    onnx::ModelProto s = make_model({4}, "y");
    *s.mutable_graph()->add_initializer() = float_tensor("B", {4, 2}, {1.f, 2.f, 3.f});
    add_node(s, "MatMul", {"x", "B"}, "y", "mm");
    const std::string ps = save(s, "short.onnx");
    expect_error([&] { Net::load(ps); }, {ps, "initializer 'B'", "3 elements stored but shape (4, 2) needs 8"});
  }
  {  // an input shape that does not fit the engine (overflowing per sample)
    onnx::ModelProto m = make_model({1 << 20, 1 << 20}, "y");
    add_node(m, "Relu", {"x"}, "y", "r");
    const std::string p = save(m, "huge.onnx");
    expect_error([&] { Net::load(p); }, {p, "elements per sample"});
  }
  {  // external data that escapes the model's folder
    onnx::ModelProto m = make_model({4}, "y");
    onnx::TensorProto t;
    t.set_name("B");
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_dims(4);
    t.add_dims(2);
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    auto* kv = t.add_external_data();
    kv->set_key("location");
    kv->set_value("../secret.bin");
    *m.mutable_graph()->add_initializer() = t;
    add_node(m, "MatMul", {"x", "B"}, "y", "mm");
    const std::string p = save(m, "escape.onnx");
    expect_error([&] { Net::load(p); }, {p, "below the model's folder"});
  }
}

TEST(Npy, ReadsWhatWriteNpyWrites) {
  const std::string p = temp_path("round.npy");
  const Tensor t = test::random_tensor({2, 3, 4}, 9);
  write_npy(p, t);
  const Tensor r = read_npy(p);
  ASSERT_EQ(r.shape(), t.shape());
  for (int64_t k = 0; k < t.numel(); ++k) EXPECT_EQ(r.data<float>()[k], t.data<float>()[k]);
  const std::string bad = temp_path("bad.npy");
  std::ofstream(bad, std::ios::binary) << npy_header_f32({4, 4}) << "short";
  expect_error([&] { read_npy(bad); }, {bad, "needs 64 bytes of data"});
}

}  // namespace
}  // namespace deftnn
