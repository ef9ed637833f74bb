// Graphs that branch: the add, concat and split layers (CPU reference, CUDA
// against the CPU, finite-difference gradients), a residual block and a
// concat block through the Net against the same computation done layer by
// layer, gradients summed over the readers of a tensor, the planned
// inference pass of a branching graph, every structural error of a graph
// file, model file versions 1 and 2, and the example residual network.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "layers/layer_test_util.h"
#include "layers/loss.h"
#include "net/net.h"
#include "net/safetensors.h"
#include "train/sgd.h"

namespace deftnn::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string model_path(const std::string& name) { return std::string(DEFTNN_SOURCE_DIR) + "/models/" + name; }

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

// Runs a multi-tensor layer on ctx with NaN-poisoned outputs; host results.
struct MultiRun {
  std::unique_ptr<Layer> layer;
  std::vector<Shape> in, out;
  std::vector<Tensor> x, y;

  MultiRun(const json& spec, std::vector<Shape> in_shapes) : layer(make_layer(spec)), in(std::move(in_shapes)) {
    out = layer->infer_multi(in);
  }
  std::vector<std::vector<double>> forward(Context& ctx, const std::vector<std::vector<double>>& xv, DType dt) {
    x.clear(), y.clear();
    std::vector<const Tensor*> xp;
    std::vector<Tensor*> yp;
    for (size_t k = 0; k < in.size(); ++k) x.push_back(make_tensor(in[k], xv[k], dt, ctx));
    for (const Shape& s : out) y.push_back(poisoned(s, dt, ctx));
    for (auto& t : x) xp.push_back(&t);
    for (auto& t : y) yp.push_back(&t);
    layer->forward_multi(ctx, xp, yp, true);
    std::vector<std::vector<double>> r;
    for (auto& t : y) r.push_back(values(t, ctx));
    return r;
  }
  // After forward: input gradients for output gradients dyv (all wanted).
  std::vector<std::vector<double>> backward(Context& ctx, const std::vector<std::vector<double>>& dyv, DType dt) {
    std::vector<Tensor> dy, dx;
    for (size_t k = 0; k < out.size(); ++k) dy.push_back(make_tensor(out[k], dyv[k], dt, ctx));
    for (const Shape& s : in) dx.push_back(poisoned(s, dt, ctx));
    std::vector<const Tensor*> xp, yp, dyp;
    std::vector<Tensor*> dxp;
    for (auto& t : x) xp.push_back(&t);
    for (auto& t : y) yp.push_back(&t);
    for (auto& t : dy) dyp.push_back(&t);
    for (auto& t : dx) dxp.push_back(&t);
    layer->backward_multi(ctx, xp, yp, dyp, dxp);
    std::vector<std::vector<double>> r;
    for (auto& t : dx) r.push_back(values(t, ctx));
    return r;
  }
};

std::vector<std::vector<double>> random_inputs(const std::vector<Shape>& shapes, uint64_t seed) {
  std::vector<std::vector<double>> v;
  for (const Shape& s : shapes) v.push_back(random_doubles(size_t(shape_numel(s)), seed++));
  return v;
}

// Element (index) of a row-major tensor of shape s.
size_t offset_of(const Shape& s, const std::vector<int64_t>& idx) {
  size_t o = 0;
  for (size_t d = 0; d < s.size(); ++d) o = o * size_t(s[d]) + size_t(idx[d]);
  return o;
}

// Calls f(index) for every index of shape s, in row-major order.
template <class F>
void for_each_index(const Shape& s, F&& f) {
  std::vector<int64_t> idx(s.size(), 0);
  for (int64_t e = 0; e < shape_numel(s); ++e) {
    f(idx);
    for (size_t d = s.size(); d-- > 0;) {
      if (++idx[d] < s[d]) break;
      idx[d] = 0;
    }
  }
}

// ---- add / concat / split -----------------------------------------------------

// Sums and copies: the layers do exactly the reference's operations in the
// reference's order, so the comparison is exact (in F32 and F64).
TEST(GraphLayers, AddMatchesReference) {
  auto cpu = Context::cpu();
  for (DType dt : {DType::F32, DType::F64}) {
    MultiRun r({{"type", "add"}, {"name", "sum"}}, {{2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}});
    ASSERT_EQ(r.out, (std::vector<Shape>{{2, 3, 4, 5}}));
    auto xv = random_inputs(r.in, 1);
    auto y = r.forward(*cpu, xv, dt)[0];
    for (size_t i = 0; i < y.size(); ++i) {
      double want = dt == DType::F32 ? double(float(float(xv[0][i]) + float(xv[1][i])) + float(xv[2][i]))
                                     : xv[0][i] + xv[1][i] + xv[2][i];
      ASSERT_EQ(y[i], want) << i;
    }
    auto dyv = random_inputs(r.out, 9);
    auto dx = r.backward(*cpu, dyv, dt);
    for (size_t k = 0; k < 3; ++k) EXPECT_EQ(dx[k], dyv[0]) << "input " << k;
  }
}

TEST(GraphLayers, ConcatAndSplitMatchReference) {
  auto cpu = Context::cpu();
  // Every axis of a rank-4 tensor, and a rank-2 one; ragged extents.
  struct Case {
    std::vector<Shape> parts;
    int64_t axis;
  };
  const Case cases[] = {{{{2, 3, 4, 5}, {2, 1, 4, 5}, {2, 2, 4, 5}}, 1},
                        {{{2, 3, 4, 5}, {2, 3, 1, 5}}, 2},
                        {{{2, 3, 4, 5}, {2, 3, 4, 2}}, 3},
                        {{{3, 7}, {3, 1}, {3, 4}}, 1}};
  for (DType dt : {DType::F32, DType::F64})
    for (const Case& c : cases) {
      SCOPED_TRACE("axis " + std::to_string(c.axis) + " parts " + std::to_string(c.parts.size()));
      MultiRun cat({{"type", "concat"}, {"name", "cat"}, {"axis", c.axis}}, c.parts);
      const Shape joined = cat.out[0];
      auto xv = random_inputs(c.parts, 3);
      auto y = cat.forward(*cpu, xv, dt)[0];
      // Reference: element idx of part k lands at idx + offset along the axis.
      int64_t offset = 0;
      std::vector<int64_t> sizes;
      for (size_t k = 0; k < c.parts.size(); ++k) {
        for_each_index(c.parts[k], [&](const std::vector<int64_t>& idx) {
          std::vector<int64_t> j = idx;
          j[size_t(c.axis)] += offset;
          ASSERT_EQ(y[offset_of(joined, j)], xv[k][offset_of(c.parts[k], idx)]);
        });
        offset += c.parts[k][size_t(c.axis)];
        sizes.push_back(c.parts[k][size_t(c.axis)]);
      }
      EXPECT_EQ(offset, joined[size_t(c.axis)]);
      // Concat's backward cuts dy back into parts: split's forward.
      auto dx = cat.backward(*cpu, {y}, dt);
      EXPECT_EQ(dx, xv);
      MultiRun split({{"type", "split"}, {"name", "sp"}, {"axis", c.axis}, {"sizes", sizes}}, {joined});
      EXPECT_EQ(split.out, c.parts);
      EXPECT_EQ(split.forward(*cpu, {y}, dt), xv);
      EXPECT_EQ(split.backward(*cpu, xv, dt)[0], y);
    }
}

TEST(GraphLayers, BadShapesNameTheLayer) {
  auto add = make_layer({{"type", "add"}, {"name", "sum"}});
  expect_error([&] { add->infer_multi({{1, 64, 8, 8}, {1, 32, 8, 8}}); },
               {"'sum' (add)", "input 1 has shape (1, 32, 8, 8)", "(1, 64, 8, 8)"});
  auto cat = make_layer({{"type", "concat"}, {"name", "cat"}, {"axis", 1}});
  expect_error([&] { cat->infer_multi({{1, 4, 8, 8}, {1, 2, 8, 7}}); }, {"'cat' (concat)", "(1, 2, 8, 7)"});
  expect_error([&] { make_layer({{"type", "concat"}, {"name", "cat"}, {"axis", 4}})->infer_multi({{1, 2}, {1, 2}}); },
               {"'cat'", "axis 4"});
  auto split = make_layer({{"type", "split"}, {"name", "sp"}, {"sizes", {2, 3}}});
  EXPECT_EQ(split->num_outputs(), 2);
  expect_error([&] { split->infer_multi({{1, 4, 2, 2}}); }, {"'sp' (split)", "add up to 5", "(1, 4, 2, 2)"});
  expect_error([&] { make_layer({{"type", "split"}, {"name", "sp"}, {"sizes", {2}}}); }, {"'sp'", "'sizes'"});
  expect_error([&] { make_layer({{"type", "split"}, {"name", "sp"}}); }, {"'sp'", "'sizes'"});
  expect_error([&] { make_layer({{"type", "concat"}, {"name", "cat"}, {"axis", 0}}); }, {"'cat'", "'axis'"});
  // The one-tensor calls of a multi-tensor layer refuse, naming it.
  expect_error([&] { add->infer({1, 2}); }, {"'sum' (add)", "infer_multi"});
  // Configs round-trip.
  for (const json& spec : {json{{"type", "add"}, {"name", "a"}}, json{{"type", "concat"}, {"name", "c"}, {"axis", 2}},
                           json{{"type", "split"}, {"name", "s"}, {"axis", 3}, {"sizes", {1, 2, 3}}}})
    EXPECT_EQ(make_layer(spec)->config(), spec);
}

// CUDA against the CPU: the same fp32 operations, so the same bits.
TEST(GraphLayers, CudaMatchesCpu) {
  DEFTNN_REQUIRE_GPU();
  auto cpu = Context::cpu();
  auto gpu = Context::cuda();
  const std::vector<std::pair<json, std::vector<Shape>>> cases = {
      {{{"type", "add"}, {"name", "a"}}, {{3, 5, 7, 9}, {3, 5, 7, 9}}},
      {{{"type", "add"}, {"name", "a"}}, {{2, 1000}, {2, 1000}, {2, 1000}, {2, 1000}}},
      {{{"type", "concat"}, {"name", "c"}}, {{3, 5, 7, 9}, {3, 2, 7, 9}, {3, 1, 7, 9}}},
      {{{"type", "concat"}, {"name", "c"}, {"axis", 3}}, {{3, 5, 7, 9}, {3, 5, 7, 2}}},
      {{{"type", "split"}, {"name", "s"}, {"sizes", {3, 1, 4}}}, {{5, 8, 3, 3}}},
      {{{"type", "split"}, {"name", "s"}, {"axis", 2}, {"sizes", {2, 5}}}, {{5, 8, 7, 3}}},
  };
  for (const auto& [spec, shapes] : cases) {
    SCOPED_TRACE(spec.dump());
    MultiRun c(spec, shapes), g(spec, shapes);
    auto xv = random_inputs(shapes, 5);
    EXPECT_EQ(g.forward(*gpu, xv, DType::F32), c.forward(*cpu, xv, DType::F32));
    auto dyv = random_inputs(c.out, 8);
    EXPECT_EQ(g.backward(*gpu, dyv, DType::F32), c.backward(*cpu, dyv, DType::F32));
  }
}

// ---- blocks through the Net -----------------------------------------------------

// Residual block: stem conv + ReLU, then conv -> ReLU -> conv, plus the skip
// from the stem (its output is read twice: by conv c1 and by the add), add,
// ReLU, linear.
json residual_graph() {
  return json::parse(R"({"name": "residual", "input": [3, 5, 5], "classes": 3, "layers": [
      {"type": "conv", "name": "c0", "out": 4, "kernel": 3, "pad": 1, "bias_value": 0.1},
      {"type": "relu", "name": "r0"},
      {"type": "conv", "name": "c1", "out": 4, "kernel": 3, "pad": 1, "bias_value": 0.05},
      {"type": "relu", "name": "r1"},
      {"type": "conv", "name": "c2", "out": 4, "kernel": 3, "pad": 1},
      {"type": "add", "name": "sum", "inputs": ["c2", "r0"]},
      {"type": "relu", "name": "r2"},
      {"type": "linear", "name": "fc", "out": 3}]})");
}

// Concat block: two conv branches of the input (3x3 and 1x1), joined along
// channels, then linear.
json concat_graph() {
  return json::parse(R"({"name": "concat", "input": [2, 4, 4], "classes": 3, "layers": [
      {"type": "conv", "name": "a", "out": 3, "kernel": 3, "pad": 1, "bias_value": 0.1},
      {"type": "conv", "name": "b", "out": 2, "kernel": 1, "inputs": ["data"]},
      {"type": "concat", "name": "cat", "inputs": ["a", "b"]},
      {"type": "linear", "name": "fc", "out": 3}]})");
}

// A copy of the net's layer `name` with the same parameters, for references.
std::unique_ptr<Layer> copy_of(Net& net, const std::string& name, const Shape& in) {
  auto l = make_layer(net.find(name)->config());
  l->infer(in);
  auto src = net.find(name)->params();
  auto dst = l->params();
  for (size_t k = 0; k < src.size(); ++k) {
    dst[k]->value = src[k]->value;  // shares the buffer: the same values
    if (src[k]->grad.defined()) dst[k]->grad = Tensor::empty(src[k]->grad.shape());
  }
  return l;
}

Tensor run(Layer& l, const Tensor& x, const Shape& out) {
  auto cpu = Context::cpu();
  Tensor y = Tensor::empty(out);
  l.forward(*cpu, x, y, true);
  return y;
}

Tensor grad_in(Layer& l, const Tensor& x, const Tensor& y, const Tensor& dy) {
  auto cpu = Context::cpu();
  Tensor dx = Tensor::empty(x.shape());
  l.backward(*cpu, x, y, dy, &dx);
  return dx;
}

std::vector<float> grad_of(Layer& l, const std::string& param) {
  auto cpu = Context::cpu();
  for (Param* p : l.params())
    if (p->name == param) return p->grad.to_vector(*cpu);
  ADD_FAILURE() << "no parameter " << param;
  return {};
}

std::vector<float> sum_of(const Tensor& a, const Tensor& b) {
  auto cpu = Context::cpu();
  std::vector<float> va = a.to_vector(*cpu), vb = b.to_vector(*cpu);
  for (size_t i = 0; i < va.size(); ++i) va[i] += vb[i];
  return va;
}

// Net against the same layers run by hand: forward, the gradient of every
// parameter and of the input. The operations are the same, in the same
// order, so the results are the same bits.
TEST(GraphNet, ResidualBlockMatchesLayerByLayer) {
  Net net = Net::from_graph(residual_graph(), "residual");
  EXPECT_EQ(net.consumers("r0"), (std::vector<size_t>{2, 5}));
  EXPECT_EQ(net.input_names(5), (std::vector<std::string>{"c2", "r0"}));
  EXPECT_EQ(net.output_names(5), (std::vector<std::string>{"sum"}));
  EXPECT_EQ(net.input_names(), (std::vector<std::string>{"data"}));
  EXPECT_EQ(net.output_names(), (std::vector<std::string>{"fc"}));
  net.init(3);
  auto cpu = Context::cpu();
  const int64_t n = 2;
  Tensor x = random_tensor({n, 3, 5, 5}, 4);
  Tensor r = random_tensor({n, 3}, 5);
  std::vector<float> got = net.forward(*cpu, x, true).to_vector(*cpu);
  std::vector<Tensor> dx = net.backward(*cpu, {r}, true);

  const Shape s = {n, 4, 5, 5};
  auto c0 = copy_of(net, "c0", {n, 3, 5, 5}), c1 = copy_of(net, "c1", s), c2 = copy_of(net, "c2", s);
  auto r0 = copy_of(net, "r0", s), r1 = copy_of(net, "r1", s), r2 = copy_of(net, "r2", s);
  auto fc = copy_of(net, "fc", s);
  Tensor a0 = run(*c0, x, s), h0 = run(*r0, a0, s), a1 = run(*c1, h0, s), h1 = run(*r1, a1, s), a2 = run(*c2, h1, s);
  Tensor sum = Tensor::from_vector(s, sum_of(a2, h0));
  Tensor h2 = run(*r2, sum, s), y = run(*fc, h2, {n, 3});
  EXPECT_EQ(got, y.to_vector(*cpu));

  Tensor d_h2 = grad_in(*fc, h2, y, r), d_sum = grad_in(*r2, sum, h2, d_h2);
  Tensor d_h1 = grad_in(*c2, h1, a2, d_sum), d_a1 = grad_in(*r1, a1, h1, d_h1), d_h0_c1 = grad_in(*c1, h0, a1, d_a1);
  // h0 is read by c1 and by the add: its gradient is the sum of both.
  Tensor d_h0 = Tensor::from_vector(s, sum_of(d_sum, d_h0_c1));
  Tensor d_a0 = grad_in(*r0, a0, h0, d_h0), d_x = grad_in(*c0, x, a0, d_a0);
  ASSERT_EQ(dx.size(), 1u);
  EXPECT_EQ(dx[0].to_vector(*cpu), d_x.to_vector(*cpu));
  for (auto* l : {c0.get(), c1.get(), c2.get(), fc.get()})
    for (const char* p : {"weight", "bias"}) {
      const Layer& mine = *net.find(l->name());
      std::vector<float> want = grad_of(*l, p);
      for (Param* q : const_cast<Layer&>(mine).params())
        if (q->name == p) EXPECT_EQ(q->grad.to_vector(*cpu), want) << l->name() << "." << p;
    }
}

TEST(GraphNet, ConcatBlockMatchesLayerByLayer) {
  Net net = Net::from_graph(concat_graph(), "concat");
  net.init(6);
  auto cpu = Context::cpu();
  const int64_t n = 3;
  Tensor x = random_tensor({n, 2, 4, 4}, 7);
  Tensor r = random_tensor({n, 3}, 8);
  std::vector<float> got = net.forward(*cpu, x, true).to_vector(*cpu);
  std::vector<Tensor> dx = net.backward(*cpu, {r}, true);

  auto a = copy_of(net, "a", {n, 2, 4, 4}), b = copy_of(net, "b", {n, 2, 4, 4});
  auto fc = copy_of(net, "fc", {n, 5, 4, 4});
  Tensor ya = run(*a, x, {n, 3, 4, 4}), yb = run(*b, x, {n, 2, 4, 4});
  // Channels 0-2 from a, 3-4 from b, image by image.
  std::vector<float> cat, va = ya.to_vector(*cpu), vb = yb.to_vector(*cpu);
  for (int64_t i = 0; i < n; ++i) {
    cat.insert(cat.end(), va.begin() + i * 48, va.begin() + (i + 1) * 48);
    cat.insert(cat.end(), vb.begin() + i * 32, vb.begin() + (i + 1) * 32);
  }
  Tensor joined = Tensor::from_vector({n, 5, 4, 4}, cat);
  Tensor y = run(*fc, joined, {n, 3});
  EXPECT_EQ(got, y.to_vector(*cpu));
  std::vector<float> dj = grad_in(*fc, joined, y, r).to_vector(*cpu), da, db;
  for (int64_t i = 0; i < n; ++i) {
    da.insert(da.end(), dj.begin() + i * 80, dj.begin() + i * 80 + 48);
    db.insert(db.end(), dj.begin() + i * 80 + 48, dj.begin() + (i + 1) * 80);
  }
  Tensor d_from_a = grad_in(*a, x, ya, Tensor::from_vector(ya.shape(), da));
  Tensor d_from_b = grad_in(*b, x, yb, Tensor::from_vector(yb.shape(), db));
  // The input is read by both branches: the net adds b's gradient to a's
  // (reverse topological order: b's first), the reference a's to b's; fp32
  // addition commutes, so the bits agree.
  EXPECT_EQ(dx[0].to_vector(*cpu), sum_of(d_from_a, d_from_b));
  for (auto* l : {a.get(), b.get(), fc.get()}) {
    for (Param* q : net.find(l->name())->params())
      EXPECT_EQ(q->grad.to_vector(*cpu), grad_of(*l, q->name)) << l->name() << "." << q->name;
  }
}

// Central differences of L = sum(logits * R) against backward(), for a few
// elements of every parameter and of the input. The blocks are piecewise
// linear (conv, ReLU, add, concat, linear), so the difference is exact unless
// a ReLU flips inside the step; L is summed in double from fp32 logits
// (rounding ~1e-6 on |L| ~ 10, divided by 2h = 2e-3: 5e-4), so 2e-3 + 1e-3 |fd|.
void check_finite_differences(const json& graph, const Shape& in, uint64_t seed) {
  Net net = Net::from_graph(graph, graph["name"].get<std::string>());
  net.init(seed);
  auto cpu = Context::cpu();
  Tensor x = random_tensor(in, seed + 1);
  Tensor r = random_tensor(net.output_shape(net.size() - 1, in[0]), seed + 2);
  auto loss = [&] {
    std::vector<float> y = net.forward(*cpu, x, true).to_vector(*cpu), rv = r.to_vector(*cpu);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += double(y[i]) * rv[i];
    return s;
  };
  loss();
  std::vector<float> dx = net.backward(*cpu, {r}, true)[0].to_vector(*cpu);
  const float h = 1e-3f;
  auto check = [&](float* v, double grad, const std::string& what) {
    const float saved = *v;
    *v = saved + h;
    double lp = loss();
    *v = saved - h;
    double lm = loss();
    *v = saved;
    double fd = (lp - lm) / (2 * h);
    EXPECT_NEAR(grad, fd, 2e-3 + 1e-3 * std::fabs(fd)) << what;
  };
  int checked = 0;
  for (Param* p : net.params()) {
    std::vector<float> g = p->grad.to_vector(*cpu);
    for (int64_t i : {int64_t(0), p->value.numel() / 3, p->value.numel() - 1}) {
      check(p->value.data<float>() + i, g[size_t(i)], p->name + "[" + std::to_string(i) + "]");
      ++checked;
    }
  }
  for (int64_t i = 0; i < x.numel(); i += x.numel() / 7) {
    check(x.data<float>() + i, dx[size_t(i)], "input[" + std::to_string(i) + "]");
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST(GraphNet, ResidualGradientsMatchFiniteDifferences) { check_finite_differences(residual_graph(), {2, 3, 5, 5}, 11); }

TEST(GraphNet, ConcatGradientsMatchFiniteDifferences) { check_finite_differences(concat_graph(), {2, 2, 4, 4}, 21); }

// Two inputs, two outputs and a split: forward by name order, backward with
// a gradient per output; an output also read by a layer gets both gradients.
TEST(GraphNet, SeveralInputsAndOutputs) {
  json g = json::parse(R"({"name": "multi", "inputs": [{"name": "img", "shape": [2, 3, 3]}, {"name": "aux", "shape": [3, 3, 3]}],
      "outputs": ["head", "feat"], "layers": [
      {"type": "concat", "name": "cat", "inputs": ["img", "aux"]},
      {"type": "split", "name": "sp", "sizes": [4, 1], "outputs": ["feat", "rest"]},
      {"type": "flatten", "name": "flat", "inputs": ["feat"]},
      {"type": "linear", "name": "head", "out": 2}]})");
  Net net = Net::from_graph(g, "multi");
  EXPECT_EQ(net.classes(), 0);
  EXPECT_EQ(net.input_shape(), (Shape{2, 3, 3}));
  EXPECT_EQ(net.tensor_shape("rest", 5), (Shape{5, 1, 3, 3}));
  net.init(1);
  auto cpu = Context::cpu();
  Tensor img = random_tensor({2, 2, 3, 3}, 1), aux = random_tensor({2, 3, 3, 3}, 2);
  expect_error([&] { net.forward(*cpu, img, false); }, {"multi", "2 inputs"});
  expect_error([&] { net.forward(*cpu, {img, random_tensor({3, 3, 3, 3}, 2)}, false); }, {"input 'aux'", "(3, 3, 3, 3)"});
  std::vector<Tensor> out = net.forward(*cpu, {img, aux}, true);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].shape(), (Shape{2, 2}));
  // feat = channels 0-3 of [img, aux]: img's two, then aux's first two.
  std::vector<float> feat = out[1].to_vector(*cpu), vi = img.to_vector(*cpu), va = aux.to_vector(*cpu);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 36; ++j)
      ASSERT_EQ(feat[size_t(i * 36 + j)], j < 18 ? vi[size_t(i * 18 + j)] : va[size_t(i * 27 + j - 18)]);
  // d(feat) = G plus what the head sends back; d(rest) = 0.
  Tensor dhead = random_tensor({2, 2}, 3), dfeat = random_tensor({2, 4, 3, 3}, 4);
  std::vector<Tensor> din = net.backward(*cpu, {dhead, dfeat}, true);
  ASSERT_EQ(din.size(), 2u);
  auto* head = net.find("head");
  Tensor dflat = Tensor::empty({2, 36});
  Tensor flat = net.forward(*cpu, {img, aux}, true)[1].reshape({2, 36});
  head->backward(*cpu, flat, out[0], dhead, &dflat);
  std::vector<float> want_feat = sum_of(dfeat, dflat.reshape({2, 4, 3, 3}));
  std::vector<float> di = din[0].to_vector(*cpu), da = din[1].to_vector(*cpu);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 45; ++j) {
      float want = j < 36 ? want_feat[size_t(i * 36 + j)] : 0.f;
      ASSERT_EQ(j < 18 ? di[size_t(i * 18 + j)] : da[size_t(i * 27 + j - 18)], want) << i << " " << j;
    }
}

// ---- inference plan ---------------------------------------------------------------

// Fusions apply along edges with one reader only. Two branches off a conv
// (one conv -> ReLU -> pool -> conv chain, one pool), a dropout on a branch,
// an add, a concat, and a tail chain.
json branching_graph() {
  return json::parse(R"({"name": "branching", "input": [3, 10, 10], "classes": 4, "layers": [
      {"type": "conv", "name": "stem", "out": 4, "kernel": 3, "pad": 1, "bias_value": 0.1},
      {"type": "relu", "name": "stem_relu"},
      {"type": "conv", "name": "b1", "out": 4, "kernel": 3, "pad": 1, "bias_value": -0.1},
      {"type": "relu", "name": "b1_relu"},
      {"type": "maxpool", "name": "b1_pool", "kernel": 2, "stride": 2},
      {"type": "conv", "name": "b1_conv", "out": 4, "kernel": 3, "pad": 1},
      {"type": "maxpool", "name": "b2_pool", "kernel": 2, "stride": 2, "inputs": ["stem_relu"]},
      {"type": "dropout", "name": "b2_drop", "ratio": 0.5},
      {"type": "add", "name": "sum", "inputs": ["b1_conv", "b2_drop"]},
      {"type": "relu", "name": "sum_relu"},
      {"type": "concat", "name": "cat", "inputs": ["sum_relu", "b1_pool"]},
      {"type": "conv", "name": "tail", "out": 5, "kernel": 3, "pad": 1, "bias_value": 0.05},
      {"type": "relu", "name": "tail_relu"},
      {"type": "maxpool", "name": "tail_pool", "kernel": 2, "stride": 2},
      {"type": "linear", "name": "fc", "out": 4}]})");
}

void check_branching_plan(Context& ctx, bool exact) {
  Net planned = Net::from_graph(branching_graph(), "branching");
  Net plain = Net::from_graph(branching_graph(), "branching");
  planned.init(9), plain.init(9);
  for (Net* net : {&planned, &plain})
    for (Param* p : net->params())
      if (p->name == "bias") p->value = random_tensor(p->value.shape(), 99, -0.3f, 0.3f);
  planned.trunk_fusion = Net::TrunkFusion::On;
  plain.fuse_inference = false;
  planned.to(ctx), plain.to(ctx);

  const auto plan = planned.inference_plan();
  using S = Net::InferStep;
  const Layout N = Layout::NCHW, C = Layout::CNHW;
  auto at = [&](const std::string& name) {
    for (size_t i = 0; i < planned.size(); ++i)
      if (planned.layer(i).name() == name) return plan[i];
    ADD_FAILURE() << "no layer " << name;
    return Net::InferPlanEntry{};
  };
  // The stem's ReLU is fused (its only reader), but stem_relu has two
  // readers: NCHW, nothing deferred across it.
  EXPECT_TRUE(at("stem").args.relu);
  EXPECT_EQ(at("stem").args.out, N);
  EXPECT_FALSE(at("stem").args.defer);
  EXPECT_EQ(at("stem_relu").step, S::Fused);
  // b1 -> b1_pool: one reader, fused ReLU; the pool's output has two readers
  // (b1_conv and the concat), so b1 writes CNHW, the pool turns it back.
  EXPECT_TRUE(at("b1").args.relu);
  EXPECT_EQ(at("b1").args.out, C);
  EXPECT_TRUE(at("b1").args.defer);
  EXPECT_EQ(at("b1_pool").args.in, C);
  EXPECT_EQ(at("b1_pool").args.out, N);
  EXPECT_EQ(at("b1_conv").args.in, N);
  EXPECT_EQ(at("b1_conv").args.out, N);  // read by the add: NCHW
  EXPECT_EQ(at("b2_drop").step, S::Skip);
  EXPECT_TRUE(at("sum").args.plain());
  EXPECT_EQ(at("sum_relu").step, S::Run);  // the add cannot fuse it
  EXPECT_TRUE(at("cat").args.plain());
  EXPECT_EQ(at("tail").args.out, C);  // tail -> tail_pool: a chain again
  EXPECT_TRUE(at("tail").args.defer);
  EXPECT_EQ(at("tail_pool").args.out, N);

  for (int64_t batch : {1, 3}) {
    Tensor x = random_tensor({batch, 3, 10, 10}, 31).to(ctx.device(), ctx);
    std::vector<float> want = plain.forward(ctx, x, false).to_vector(ctx);
    std::vector<float> got = planned.forward(ctx, x, false).to_vector(ctx);
    if (exact) {
      EXPECT_EQ(got, want) << "batch " << batch;
    } else {
      // CUDA: cuBLAS may pick another kernel for the CNHW output stride
      // (summation order); K <= 72, |x| ~ 1: 1e-5 relative.
      EXPECT_TRUE(all_close(got, want, 1e-6, 1e-5, "branching planned vs plain"));
    }
  }
}

TEST(GraphNet, CpuPlannedInferenceOfBranchingGraphMatchesPlain) {
  auto ctx = Context::cpu();
  check_branching_plan(*ctx, true);
}

TEST(GraphNet, CudaPlannedInferenceOfBranchingGraphMatchesPlain) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  check_branching_plan(*ctx, false);
}

// The blocks on the GPU against the CPU: forward, parameter and input
// gradients. Both accumulate in fp32 in different orders (K <= 100): 1e-4.
TEST(GraphNet, CudaBlocksMatchCpu) {
  DEFTNN_REQUIRE_GPU();
  auto cpu = Context::cpu();
  auto gpu = Context::cuda();
  for (const auto& [graph, in] : {std::pair{residual_graph(), Shape{4, 3, 5, 5}}, std::pair{concat_graph(), Shape{4, 2, 4, 4}}}) {
    SCOPED_TRACE(graph["name"].get<std::string>());
    Net c = Net::from_graph(graph, "cpu"), g = Net::from_graph(graph, "gpu");
    c.init(5), g.init(5);
    g.to(*gpu);
    Tensor x = random_tensor(in, 6), r = random_tensor({in[0], 3}, 7);
    std::vector<float> yc = c.forward(*cpu, x, true).to_vector(*cpu);
    std::vector<float> yg = g.forward(*gpu, x.to(Device::CUDA, *gpu), true).to_vector(*gpu);
    EXPECT_TRUE(all_close(yg, yc, 1e-4, 1e-4, "logits"));
    std::vector<float> dc = c.backward(*cpu, {r}, true)[0].to_vector(*cpu);
    std::vector<float> dg = g.backward(*gpu, {r.to(Device::CUDA, *gpu)}, true)[0].to_vector(*gpu);
    EXPECT_TRUE(all_close(dg, dc, 1e-4, 1e-4, "input gradient"));
    auto pc = c.params(), pg = g.params();
    for (size_t k = 0; k < pc.size(); ++k)
      EXPECT_TRUE(all_close(pg[k]->grad.to_vector(*gpu), pc[k]->grad.to_vector(*cpu), 1e-4, 1e-4, pc[k]->name));
    EXPECT_TRUE(all_close(g.forward(*gpu, x.to(Device::CUDA, *gpu), false).to_vector(*gpu),
                          c.forward(*cpu, x, false).to_vector(*cpu), 1e-4, 1e-4, "planned inference"));
  }
}

// ---- graph file errors -----------------------------------------------------------

TEST(GraphFile, StructuralErrorsNameTheNode) {
  auto check = [](const std::string& text, std::initializer_list<std::string> parts) {
    expect_error([&] { Net::from_graph(json::parse(text), "bad.json"); }, parts);
    expect_error([&] { Net::from_graph(json::parse(text), "bad.json"); }, {"bad.json"});
  };
  const std::string head = R"({"name": "g", "input": [32, 8, 8], "layers": [)";
  check(head + R"({"type": "conv", "name": "c1", "out": 64, "kernel": 1},
                  {"type": "add", "name": "sum", "inputs": ["c1", "nope"]}]})",
        {"layers[1] 'sum' (add)", "input tensor 'nope'", "'data', 'c1', 'sum'"});
  check(head + R"({"type": "relu", "name": "r1"},
                  {"type": "relu", "name": "r2", "outputs": ["r1"]}]})",
        {"layers[1] 'r2' (relu)", "tensor 'r1' is written twice", "layers[0] 'r1' (relu)"});
  check(head + R"({"type": "relu", "name": "r1", "outputs": ["data"]}]})", {"layers[0] 'r1'", "graph input"});
  check(head + R"({"type": "relu", "name": "r1", "inputs": ["r3"]},
                  {"type": "relu", "name": "r2"},
                  {"type": "relu", "name": "r3"}]})",
        {"cycle", "layers[0] 'r1' -> layers[1] 'r2' -> layers[2] 'r3' -> layers[0] 'r1'"});
  check(head + R"({"type": "add", "name": "sum"}]})", {"layers[0] 'sum' (add)", "takes 2 or more inputs, got 1"});
  check(head + R"({"type": "relu", "name": "r1", "inputs": ["data", "data"]}]})",
        {"layers[0] 'r1' (relu)", "takes 1 inputs, got 2"});
  check(head + R"({"type": "split", "name": "sp", "sizes": [16, 16]}]})",
        {"layers[0] 'sp' (split)", "writes 2 tensors", "'outputs'"});
  check(head + R"({"type": "conv", "name": "c1", "out": 64, "kernel": 1},
                  {"type": "add", "name": "sum", "inputs": ["c1", "data"]}]})",
        {"layers[1] 'sum' (add)", "(1, 64, 8, 8)", "(1, 32, 8, 8)"});
  check(R"({"name": "g", "input": [32, 8, 8], "outputs": ["r1", "ghost"], "layers": [{"type": "relu", "name": "r1"}]})",
        {"graph output 'ghost'", "written by no layer"});
  check(R"({"name": "g", "input": [3, 2, 2], "classes": 5, "layers": [{"type": "flatten", "name": "f"}]})",
        {"last layer 'f' (flatten)", "(1, 12)", "5 classes"});
  check(R"({"name": "g", "inputs": [{"name": "a", "shape": []}], "layers": [{"type": "relu", "name": "r"}]})",
        {"inputs[0]"});
  check(R"({"name": "g", "input": [3, 2, 2], "inputs": [{"name": "a", "shape": [2]}], "layers": [{"type": "relu"}]})",
        {"exactly one of 'input'"});
  check(head + R"({"type": "relu", "name": "r1", "inputs": "data"}]})", {"layers[0] 'r1' (relu)", "'inputs'"});
}

// Topological order is file order where the edges allow, and the graph
// written back reads into the same net.
TEST(GraphFile, OrderIsStableAndRoundTrips) {
  json g = json::parse(R"({"name": "g", "input": [2, 3, 3], "layers": [
      {"type": "relu", "name": "late", "inputs": ["early"]},
      {"type": "relu", "name": "early", "inputs": ["data"]},
      {"type": "relu", "name": "other", "inputs": ["data"]},
      {"type": "add", "name": "sum", "inputs": ["late", "other"]}]})");
  Net net = Net::from_graph(g, "g");
  std::vector<std::string> order;
  for (size_t i = 0; i < net.size(); ++i) order.push_back(net.layer(i).name());
  EXPECT_EQ(order, (std::vector<std::string>{"early", "late", "other", "sum"}));
  json back = net.graph();
  EXPECT_FALSE(back["layers"][0].contains("inputs"));  // early reads data, the default for the first layer
  EXPECT_FALSE(back["layers"][1].contains("inputs"));  // late reads early, the one before it
  EXPECT_EQ(back["layers"][2]["inputs"], json({"data"}));
  EXPECT_EQ(Net::from_graph(back, "again").graph(), back);
  // A chain writes no version-2 keys: the paper's networks read as version 1 did.
  for (const char* m : {"lenet.json", "cifarnet.json", "caffenet-imc.json"}) {
    json chain = Net::load(model_path(m)).graph();
    EXPECT_TRUE(chain.contains("input") && !chain.contains("inputs") && !chain.contains("outputs")) << m;
    for (const json& l : chain["layers"]) EXPECT_FALSE(l.contains("inputs") || l.contains("outputs")) << m;
  }
}

// ---- the paper's networks are unchanged ----------------------------------------

TEST(GraphModels, SixNetworksKeepShapesAndFlops) {
  // FLOPs for a batch of one, sum over the layers (deftnn inspect's total
  // before the graph refactor).
  const std::pair<const char*, int64_t> cases[] = {
      {"lenet.json", 4586000},           {"cifarnet.json", 21319680},       {"caffenet-imc.json", 1448813632},
      {"caffenet-fls.json", 1440785472}, {"caffenet-oxf.json", 1441457216}, {"caffenet-sos.json", 1440662592}};
  for (const auto& [file, flops] : cases) {
    SCOPED_TRACE(file);
    Net net = Net::load(model_path(file));
    int64_t total = 0;
    for (size_t i = 0; i < net.size(); ++i) {
      total += net.layer(i).flops(net.input_shape_of(i, 1));
      // A chain: layer i reads what layer i - 1 wrote.
      if (i > 0) EXPECT_EQ(net.input_shape_of(i, 5), net.output_shape(i - 1, 5));
      EXPECT_EQ(net.input_names(i), (std::vector<std::string>{i == 0 ? "data" : net.layer(i - 1).name()}));
    }
    EXPECT_EQ(total, flops);
    EXPECT_EQ(net.input_shape_of(0, 2), (Shape{2, net.input_shape()[0], net.input_shape()[1], net.input_shape()[2]}));
  }
}

// ---- model files -------------------------------------------------------------------

class GraphFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deftnn-graph-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(GraphFiles, BranchingModelRoundTripsAsVersion2) {
  Net net = Net::from_graph(residual_graph(), "residual");
  net.init(4);
  std::string p = path("res.safetensors");
  net.save(p);
  EXPECT_EQ(read_safetensors(p).metadata.at("deftnn.version"), "2");
  Net back = Net::load(p);
  EXPECT_EQ(back.graph(), net.graph());
  auto cpu = Context::cpu();
  Tensor x = random_tensor({2, 3, 5, 5}, 1);
  EXPECT_EQ(back.forward(*cpu, x, false).to_vector(*cpu), net.forward(*cpu, x, false).to_vector(*cpu));
}

// A version-1 file as the chain-only build wrote it: the legacy graph keys,
// "deftnn.version": "1".
TEST_F(GraphFiles, Version1FileLoads) {
  TensorFile tf;
  tf.metadata["deftnn.version"] = "1";
  tf.metadata["deftnn.graph"] =
      R"({"name":"v1","input":[1,2,2],"classes":2,"layers":[{"type":"flatten","name":"flat"},)"
      R"({"type":"linear","name":"fc","out":2,"weight_filler":{"type":"xavier"},"bias_value":0.0}]})";
  tf.metadata["deftnn.meta"] = R"({"note":"old"})";
  tf.tensors["fc.weight"] = Tensor::from_vector({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  tf.tensors["fc.bias"] = Tensor::from_vector({2}, {0.5f, -0.5f});
  std::string p = path("v1.safetensors");
  write_safetensors(p, tf);
  Net net = Net::load(p);
  EXPECT_EQ(net.metadata()["note"], "old");
  auto cpu = Context::cpu();
  std::vector<float> y = net.forward(*cpu, Tensor::from_vector({1, 1, 2, 2}, {1, 0, 0, 1}), false).to_vector(*cpu);
  EXPECT_EQ(y, (std::vector<float>{1 + 4 + 0.5f, 5 + 8 - 0.5f}));
  tf.metadata["deftnn.version"] = "3";
  write_safetensors(p, tf);
  expect_error([&] { Net::load(p); }, {p, "version '3'"});
}

// ---- the example residual network --------------------------------------------------

TEST(GraphExample, ResnetTinyTrainsAndRuns) {
  Net net = Net::load(model_path("examples/resnet-tiny.json"));
  EXPECT_EQ(net.classes(), 10);
  EXPECT_EQ(net.input_shape(), (Shape{1, 28, 28}));
  int adds = 0;
  for (size_t i = 0; i < net.size(); ++i) adds += net.layer(i).type() == "add";
  EXPECT_GE(adds, 2);
  net.init(1);
  auto cpu = Context::cpu();
  const int64_t n = 8;
  Tensor x = random_tensor({n, 1, 28, 28}, 2, 0.f, 1.f);
  std::vector<float> labels_f = small_int_vector(size_t(n), 3, 4);
  Tensor labels = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) labels.data<int32_t>()[i] = int32_t(labels_f[size_t(i)]) + 4;  // 0 .. 8
  train::Sgd sgd(net.params(), 0.9f, 0.f);
  sgd.init_state(*cpu);
  Tensor dlogits = Tensor::empty({n, 10});
  std::vector<float> losses;
  for (int step = 0; step < 3; ++step) {
    const Tensor& logits = net.forward(*cpu, x, true);
    losses.push_back(softmax_cross_entropy(*cpu, logits, labels, &dlogits));
    net.backward(*cpu, dlogits);
    sgd.step(*cpu, 0.05f);
  }
  for (float l : losses) EXPECT_TRUE(std::isfinite(l));
  EXPECT_LT(losses.back(), losses.front());  // a few steps on one batch: the loss falls
  std::vector<float> y = net.forward(*cpu, x, false).to_vector(*cpu);
  net.fuse_inference = false;
  EXPECT_EQ(net.forward(*cpu, x, false).to_vector(*cpu), y);
}

}  // namespace
}  // namespace deftnn::test
