// The first transformer layers (layernorm, gelu, l2norm, meanpool,
// embedding): CPU forward against fp64 references written plainly here,
// gradients by central differences in fp64, CUDA against the CPU, poisoned
// outputs, ragged sizes (H not a multiple of 32, T = 1), shape errors, and a
// small sentence-embedding graph run forward and backward on the CPU.
#include <cmath>

#include "layers/layer_test_util.h"
#include "net/net.h"

namespace deftnn::test {
namespace {

using json = nlohmann::json;

// Values as fp32 would hold them, so fp64 references see the same inputs.
std::vector<double> f32_values(size_t n, uint64_t seed, double lo = -1, double hi = 1) {
  auto v = random_doubles(n, seed, lo, hi);
  for (auto& x : v) x = double(float(x));
  return v;
}

// Random fp32 values for every parameter (after init, before moving).
void randomize_params(Layer& l) {
  uint64_t seed = 500;
  for (Param* p : l.params()) {
    auto v = random_vector(size_t(p->value.numel()), seed++, 0.5f, 1.5f);
    std::copy(v.begin(), v.end(), p->value.data<float>());
  }
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

// ---- layernorm ----------------------------------------------------------------

std::vector<double> layernorm_ref(const std::vector<double>& x, const std::vector<double>& g,
                                  const std::vector<double>& b, size_t h, double eps) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size(); r += h) {
    double mean = 0, var = 0;
    for (size_t j = 0; j < h; ++j) mean += x[r + j] / double(h);
    for (size_t j = 0; j < h; ++j) var += (x[r + j] - mean) * (x[r + j] - mean) / double(h);
    for (size_t j = 0; j < h; ++j) y[r + j] = (x[r + j] - mean) / std::sqrt(var + eps) * g[j] + b[j];
  }
  return y;
}

// Rows of values in [-2, 2], every third row shifted by 10 (the two-pass
// variance keeps them). fp32 on the GPU: the row sum of H <= 64 values of
// |x| <= 12 errs by about sqrt(H) eps |sum| ~ 8 * 6e-8 * 770 = 4e-4, the mean
// by 6e-6; times 1 / sigma (<= 2) and gamma (<= 1.5): 2e-5. Forward atol 5e-5,
// backward (sums of H products of the same size, against the fp64 layer)
// atol 1e-4, rtol 1e-4.
const Tolerance kLnTol{5e-5, 1e-5, 1e-4, 1e-4};

std::vector<double> shifted_rows(const Shape& s, uint64_t seed) {
  auto x = f32_values(size_t(shape_numel(s)), seed, -2, 2);
  const size_t h = size_t(s.back());
  for (size_t i = 0; i < x.size(); ++i)
    if ((i / h) % 3 == 2) x[i] = double(float(x[i] + 10));
  return x;
}

void check_layernorm(Device dev) {
  const json spec = {{"type", "layernorm"}, {"name", "ln"}, {"eps", 1e-5}};
  for (Shape s : {Shape{2, 5, 37}, Shape{3, 1, 64}, Shape{4, 33}, Shape{1, 1, 1}}) {
    const size_t h = size_t(s.back());
    auto x = shifted_rows(s, 10);
    // randomize_params draws gamma then beta from these seeds.
    auto gv = random_vector(h, 500, 0.5f, 1.5f), bv = random_vector(h, 501, 0.5f, 1.5f);
    std::vector<double> g(gv.begin(), gv.end()), b(bv.begin(), bv.end());
    check_layer(dev, spec, s, x, true, [&](const std::vector<double>& v) { return layernorm_ref(v, g, b, h, 1e-5); },
                kLnTol, randomize_params);
  }
}
TEST(LayerNormLayer, CpuMatchesReference) { check_layernorm(Device::CPU); }
TEST(LayerNormLayer, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check_layernorm(Device::CUDA);
}
TEST(LayerNormLayer, GradientCheck) {
  gradient_check({{"type", "layernorm"}, {"name", "ln"}}, {2, 3, 7}, random_doubles(42, 11, -2, 2), true,
                 randomize_params);
}
TEST(LayerNormLayer, DefaultsAndShapes) {
  auto l = make_layer({{"type", "layernorm"}, {"name", "ln"}});
  EXPECT_EQ(l->config().at("eps").get<double>(), 1e-12);
  EXPECT_EQ(l->infer({2, 3, 8}), (Shape{2, 3, 8}));
  expect_error([&] { l->infer({2, 3, 9}); }, {"'ln'", "8"});
  expect_error([&] { make_layer({{"type", "layernorm"}, {"name", "ln2"}})->infer({2, 3, 4, 4}); },
               {"layer 'ln2' (layernorm)", "(N, T, H)"});
  expect_error([&] { make_layer({{"type", "layernorm"}, {"name", "ln3"}, {"eps", 0}}); }, {"ln3", "eps"});
}

// ---- gelu ---------------------------------------------------------------------

std::vector<double> gelu_ref(const std::vector<double>& x) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = 0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0)));
  return y;
}

// erfcf (no cancellation for x << 0) and expf are within a few ulp; |y| <= 6,
// |dx| <= 1.13 |dy|: a few fp32 ulps of the result.
const Tolerance kGeluTol{1e-6, 2e-6, 1e-6, 2e-6};

void check_gelu(Device dev) {
  const json spec = {{"type", "gelu"}, {"name", "act"}};
  for (Shape s : {Shape{3, 37}, Shape{2, 1, 5}, Shape{2, 4, 3, 3}})
    check_layer(dev, spec, s, f32_values(size_t(shape_numel(s)), 20, -6, 6), false, gelu_ref, kGeluTol);
}
TEST(GeluLayer, CpuMatchesReference) { check_gelu(Device::CPU); }
TEST(GeluLayer, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check_gelu(Device::CUDA);
}
TEST(GeluLayer, GradientCheck) {
  gradient_check({{"type", "gelu"}, {"name", "act"}}, {3, 11}, random_doubles(33, 21, -4, 4), false);
}

// ---- l2norm -------------------------------------------------------------------

std::vector<double> l2norm_ref(const std::vector<double>& x, size_t h, double eps) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size(); r += h) {
    double q = 0;
    for (size_t j = 0; j < h; ++j) q += x[r + j] * x[r + j];
    const double d = std::max(std::sqrt(q), eps);
    for (size_t j = 0; j < h; ++j) y[r + j] = x[r + j] / d;
  }
  return y;
}

// |y| <= 1; the norm in fp32 errs by about sqrt(H) eps relative: rtol 1e-5.
// Row 1 is all zeros (y = 0) and row 2 is 1e-13 everywhere (below the clamp:
// y = x / eps, dx = dy / eps), whose gradient is large: rtol covers it.
const Tolerance kL2Tol{1e-6, 1e-5, 1e-6, 1e-5};

void check_l2norm(Device dev) {
  const json spec = {{"type", "l2norm"}, {"name", "norm"}};
  for (Shape s : {Shape{4, 37}, Shape{3, 1, 33}, Shape{3, 1}}) {
    const size_t h = size_t(s.back());
    auto x = f32_values(size_t(shape_numel(s)), 30, -2, 2);
    for (size_t j = 0; j < h; ++j) x[h + j] = 0, x[2 * h + j] = double(1e-13f);
    check_layer(dev, spec, s, x, false, [&](const std::vector<double>& v) { return l2norm_ref(v, h, 1e-12); },
                kL2Tol);
  }
}
TEST(L2NormLayer, CpuMatchesReference) { check_l2norm(Device::CPU); }
TEST(L2NormLayer, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check_l2norm(Device::CUDA);
}
TEST(L2NormLayer, GradientCheck) {
  gradient_check({{"type", "l2norm"}, {"name", "norm"}}, {2, 2, 9}, random_doubles(36, 31, -2, 2), false);
}
TEST(L2NormLayer, RejectsRankFour) {
  expect_error([] { make_layer({{"type", "l2norm"}, {"name", "n"}})->infer({1, 2, 3, 4}); },
               {"layer 'n' (l2norm)", "(1, 2, 3, 4)"});
}

// ---- layers of several inputs: meanpool, embedding ---------------------------

// A tensor of `dtype` (F32, F64 or I32) on ctx's device.
Tensor make_input(const Shape& s, const std::vector<double>& v, DType dtype, Context& ctx) {
  if (dtype != DType::I32) return make_tensor(s, v, dtype, ctx);
  Tensor t = Tensor::empty(s, DType::I32);
  for (size_t i = 0; i < v.size(); ++i) t.data<int32_t>()[i] = int32_t(v[i]);
  return ctx.is_cuda() ? t.to(Device::CUDA, ctx) : t;
}

// One multi-input layer on one device: parameters as `dtype`, inputs of
// their own dtypes, poisoned outputs and input gradients.
struct MultiRun {
  std::unique_ptr<Layer> layer;
  Context* ctx;
  DType dtype;
  std::vector<Shape> in;
  std::vector<DType> in_dtypes;
  Shape out;
  std::vector<Tensor> x;
  Tensor y;

  MultiRun(const json& spec, const std::vector<Shape>& shapes, const std::vector<DType>& dtypes, Context& c, DType dt)
      : layer(make_layer(spec)), ctx(&c), dtype(dt), in(shapes), in_dtypes(dtypes) {
    out = layer->infer_multi(in)[0];
    Rng rng(7);
    layer->init_params(rng);
    move_params(*layer, c, dt);
  }
  std::vector<double> forward(const std::vector<std::vector<double>>& xv) {
    x.clear();
    for (size_t k = 0; k < in.size(); ++k) x.push_back(make_input(in[k], xv[k], in_dtypes[k], *ctx));
    y = poisoned(out, dtype, *ctx);
    std::vector<const Tensor*> xp;
    for (const Tensor& t : x) xp.push_back(&t);
    layer->forward_multi(*ctx, xp, {&y}, true);
    return values(y, *ctx);
  }
  // Input gradients (each poisoned first; empty for an I32 input, which gets none).
  std::vector<std::vector<double>> backward(const std::vector<double>& dyv) {
    Tensor dy = make_tensor(out, dyv, dtype, *ctx);
    std::vector<Tensor> dx;
    std::vector<Tensor*> dxp;
    std::vector<const Tensor*> xp;
    for (size_t k = 0; k < in.size(); ++k) {
      xp.push_back(&x[k]);
      dx.push_back(in_dtypes[k] == DType::I32 ? Tensor() : poisoned(in[k], dtype, *ctx));
    }
    for (Tensor& d : dx) dxp.push_back(d.defined() ? &d : nullptr);
    layer->backward_multi(*ctx, xp, {&y}, {&dy}, dxp);
    std::vector<std::vector<double>> g;
    for (Tensor& d : dx) g.push_back(d.defined() ? values(d, *ctx) : std::vector<double>{});
    return g;
  }
  std::vector<std::vector<double>> param_grads() {
    std::vector<std::vector<double>> g;
    for (Param* p : layer->params()) g.push_back(values(p->grad, *ctx));
    return g;
  }
};

// fp64 forward against `ref`; F32 on `dev` against it; the F32 gradients
// against the fp64 layer's; fp64 gradients of input 0 (when `input_grad`) and
// of every parameter against central differences of loss = sum(y r).
void check_multi(Device dev, const json& spec, const std::vector<Shape>& shapes, const std::vector<DType>& dtypes,
                 const std::vector<std::vector<double>>& xv, const std::vector<double>& want, const Tolerance& tol,
                 bool input_grad) {
  auto cpu = Context::cpu();
  std::vector<DType> dtypes64 = dtypes;
  for (auto& d : dtypes64)
    if (d == DType::F32) d = DType::F64;
  MultiRun r64(spec, shapes, dtypes64, *cpu, DType::F64);
  const std::string what = spec.dump();
  EXPECT_TRUE(close_f64(r64.forward(xv), want, 1e-12, 1e-12, what + " F64 forward"));
  auto rv = random_doubles(want.size(), 4242);
  auto dx64 = r64.backward(rv);
  auto g64 = r64.param_grads();
  for (size_t k = 1; k < dx64.size(); ++k)
    if (!dx64[k].empty()) EXPECT_TRUE(close_f64(dx64[k], std::vector<double>(dx64[k].size(), 0.0), 0, 0, what + " dmask"));

  // Central differences in fp64: h = 1e-5 (the layers are linear or
  // rational in the checked values: truncation ~ h^2, rounding ~ 1e-11).
  auto loss = [&](const std::vector<std::vector<double>>& v) {
    auto y = r64.forward(v);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += y[i] * rv[i];
    return s;
  };
  const double h = 1e-5;
  if (input_grad) {
    auto v = xv;
    std::vector<double> num(v[0].size());
    for (size_t i = 0; i < num.size(); ++i) {
      const double keep = v[0][i];
      v[0][i] = keep + h;
      const double lp = loss(v);
      v[0][i] = keep - h;
      const double lm = loss(v);
      v[0][i] = keep;
      num[i] = (lp - lm) / (2 * h);
    }
    EXPECT_TRUE(close_f64(dx64[0], num, 1e-8, 1e-6, what + " input gradient"));
  }
  size_t k = 0;
  for (Param* p : r64.layer->params()) {
    std::vector<double> num(size_t(p->value.numel()));
    double* pv = p->value.data<double>();
    for (size_t i = 0; i < num.size(); ++i) {
      const double keep = pv[i];
      pv[i] = keep + h;
      const double lp = loss(xv);
      pv[i] = keep - h;
      const double lm = loss(xv);
      pv[i] = keep;
      num[i] = (lp - lm) / (2 * h);
    }
    EXPECT_TRUE(close_f64(g64[k++], num, 1e-8, 1e-6, what + " gradient of " + p->name));
  }

  auto ctx = Context::make(dev);
  MultiRun r32(spec, shapes, dtypes, *ctx, DType::F32);
  const std::string where = std::string(device_name(dev)) + " " + what;
  EXPECT_TRUE(close(r32.forward(xv), want, tol.fwd_atol, tol.fwd_rtol, where + " forward"));
  auto dx32 = r32.backward(rv);
  for (size_t j = 0; j < dx32.size(); ++j)
    if (!dx32[j].empty())
      EXPECT_TRUE(close(dx32[j], dx64[j], tol.bwd_atol, tol.bwd_rtol, where + " input gradient " + std::to_string(j)));
  auto g32 = r32.param_grads();
  ASSERT_EQ(g32.size(), g64.size());
  for (size_t j = 0; j < g32.size(); ++j)
    EXPECT_TRUE(close(g32[j], g64[j], tol.bwd_atol, tol.bwd_rtol, where + " parameter gradient " + std::to_string(j)));
}

// ---- meanpool -----------------------------------------------------------------

std::vector<double> meanpool_ref(const std::vector<double>& x, const std::vector<double>& m, size_t n, size_t t,
                                 size_t h) {
  std::vector<double> y(n * h, 0.0);
  for (size_t b = 0; b < n; ++b) {
    double c = 0;
    for (size_t k = 0; k < t; ++k) c += m[b * t + k];
    for (size_t k = 0; k < t; ++k)
      for (size_t j = 0; j < h; ++j) y[b * h + j] += m[b * t + k] * x[(b * t + k) * h + j];
    for (size_t j = 0; j < h; ++j) y[b * h + j] /= std::max(c, 1e-9);
  }
  return y;
}

// A mean of at most T = 9 values in [-1, 1]: a few fp32 ulps.
const Tolerance kPoolTol{1e-6, 1e-5, 1e-6, 1e-5};

void check_meanpool(Device dev) {
  const json spec = {{"type", "meanpool"}, {"name", "pool"}};
  for (auto [n, t, h] : {std::tuple<size_t, size_t, size_t>{3, 9, 37}, {2, 1, 5}, {4, 4, 64}}) {
    auto x = f32_values(n * t * h, 40);
    std::vector<double> m(n * t);
    Rng rng(41);
    for (auto& v : m) v = double(rng.below(4) != 0);
    for (size_t k = 0; k < t; ++k) m[k] = 0;  // row 0 masked out entirely: y = 0
    if (t > 1) m[t] = 1;                       // row 1 keeps a token
    check_multi(dev, spec, {{int64_t(n), int64_t(t), int64_t(h)}, {int64_t(n), int64_t(t)}},
                {DType::F32, DType::F32}, {x, m}, meanpool_ref(x, m, n, t, h), kPoolTol, true);
  }
}
TEST(MeanPoolLayer, CpuMatchesReference) { check_meanpool(Device::CPU); }
TEST(MeanPoolLayer, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check_meanpool(Device::CUDA);
}
TEST(MeanPoolLayer, RejectsShapes) {
  auto l = make_layer({{"type", "meanpool"}, {"name", "mp"}});
  expect_error([&] { l->infer_multi({{2, 3, 4}, {2, 4}}); }, {"layer 'mp' (meanpool)", "mask", "(2, 4)"});
  expect_error([&] { l->infer_multi({{2, 12}, {2, 3}}); }, {"layer 'mp' (meanpool)", "(N, T, H)"});
}

// ---- embedding ----------------------------------------------------------------

struct EmbeddingCase {
  size_t n, t, vocab, h, positions, types;
  bool type_input;
  DType ids;
};

json embedding_spec(const EmbeddingCase& c) {
  return {{"type", "embedding"}, {"name", "emb"},           {"vocab", c.vocab},
          {"hidden", c.h},       {"positions", c.positions}, {"token_types", c.types}};
}

// The tables as the layer initialises them (Rng(7), N(0, 0.02^2) in
// word, position, type order), rounded to fp32 as the layer stores them.
std::vector<std::vector<double>> embedding_tables(const EmbeddingCase& c) {
  auto l = make_layer(embedding_spec(c));
  Rng rng(7);
  l->init_params(rng);
  std::vector<std::vector<double>> t;
  for (Param* p : l->params()) {
    std::vector<float> v = p->value.to_vector(*Context::cpu());
    t.emplace_back(v.begin(), v.end());
  }
  return t;
}

std::vector<double> embedding_ref(const EmbeddingCase& c, const std::vector<double>& ids,
                                  const std::vector<double>& types) {
  auto tables = embedding_tables(c);
  std::vector<double> y(c.n * c.t * c.h);
  for (size_t k = 0; k < c.n * c.t; ++k)
    for (size_t j = 0; j < c.h; ++j) {
      double v = tables[0][size_t(ids[k]) * c.h + j];
      size_t next = 1;
      if (c.positions) v += tables[next++][(k % c.t) * c.h + j];
      if (c.types) v += tables[next][(c.type_input ? size_t(types[k]) : 0) * c.h + j];
      y[k * c.h + j] = v;
    }
  return y;
}

// Sums of three fp32 table values and scatter-adds of at most n t = 12
// gradient rows in [-1, 1], in the same order on both devices.
const Tolerance kEmbTol{1e-7, 1e-6, 1e-6, 1e-6};

void check_embedding(Device dev) {
  for (const EmbeddingCase& c : {EmbeddingCase{3, 4, 11, 37, 6, 2, true, DType::F32},
                                 EmbeddingCase{2, 1, 5, 33, 1, 3, false, DType::I32},
                                 EmbeddingCase{2, 3, 7, 8, 0, 0, false, DType::F32},
                                 EmbeddingCase{1, 5, 4, 16, 5, 2, true, DType::I32}}) {
    Rng rng(50);
    std::vector<double> ids(c.n * c.t), types(c.n * c.t);
    for (auto& v : ids) v = double(rng.below(c.vocab));
    ids[0] = ids[1 % ids.size()];  // a repeated id: its gradient rows add up
    for (auto& v : types) v = double(rng.below(std::max<size_t>(c.types, 1)));
    std::vector<Shape> shapes{{int64_t(c.n), int64_t(c.t)}};
    std::vector<DType> dtypes{c.ids};
    std::vector<std::vector<double>> xv{ids};
    if (c.type_input) shapes.push_back(shapes[0]), dtypes.push_back(c.ids), xv.push_back(types);
    check_multi(dev, embedding_spec(c), shapes, dtypes, xv, embedding_ref(c, ids, types), kEmbTol, false);
  }
}
TEST(EmbeddingLayer, CpuMatchesReference) { check_embedding(Device::CPU); }
TEST(EmbeddingLayer, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check_embedding(Device::CUDA);
}

void check_bad_ids(Device dev) {
  auto ctx = Context::make(dev);
  const EmbeddingCase c{1, 3, 5, 8, 4, 2, true, DType::F32};
  MultiRun run(embedding_spec(c), {{1, 3}, {1, 3}}, {DType::F32, DType::F32}, *ctx, DType::F32);
  expect_error([&] { run.forward({{0, 5, 1}, {0, 0, 0}}); }, {"layer 'emb' (embedding)", "[0, 5)"});
  expect_error([&] { run.forward({{0, 1.5, 1}, {0, 0, 0}}); }, {"layer 'emb' (embedding)", "whole"});
  expect_error([&] { run.forward({{0, 1, 1}, {0, 2, 0}}); }, {"layer 'emb' (embedding)", "token type", "[0, 2)"});
  MultiRun i32(embedding_spec(c), {{1, 3}}, {DType::I32}, *ctx, DType::F32);
  expect_error([&] { i32.forward({{0, -1, 1}}); }, {"layer 'emb' (embedding)", "[0, 5)"});
}
TEST(EmbeddingLayer, RejectsBadIdsCpu) { check_bad_ids(Device::CPU); }
TEST(EmbeddingLayer, RejectsBadIdsCuda) {
  DEFTNN_REQUIRE_GPU();
  check_bad_ids(Device::CUDA);
}
TEST(EmbeddingLayer, RejectsShapes) {
  auto l = make_layer({{"type", "embedding"}, {"name", "emb"}, {"vocab", 5}, {"hidden", 4}, {"positions", 3}});
  expect_error([&] { l->infer_multi({{2, 4}}); }, {"layer 'emb' (embedding)", "4 tokens", "3 positions"});
  expect_error([&] { l->infer_multi({{2, 3, 1}}); }, {"layer 'emb' (embedding)", "(N, T)"});
  expect_error([&] { l->infer_multi({{2, 3}, {2, 3}}); }, {"layer 'emb' (embedding)", "token_types"});
  expect_error([] { make_layer({{"type", "embedding"}, {"name", "e2"}, {"hidden", 4}}); }, {"e2", "vocab"});
}

// ---- linear per token ----------------------------------------------------------

// A (N, T, F) input runs as N*T rows of F: the same numbers as the (N*T, F)
// input, forward, input gradient and parameter gradients (one GEMM each).
TEST(LinearPerToken, MatchesRows) {
  auto cpu = Context::cpu();
  const json spec = {{"type", "linear"}, {"name", "proj"}, {"out", 7}};
  auto tok = make_layer(spec), rows = make_layer(spec);
  EXPECT_EQ(tok->infer({2, 3, 5}), (Shape{2, 3, 7}));
  EXPECT_EQ(rows->infer({6, 5}), (Shape{6, 7}));
  Rng r1(1), r2(1);
  tok->init_params(r1);
  rows->init_params(r2);
  Tensor x = random_tensor({2, 3, 5}, 60), dy = random_tensor({2, 3, 7}, 61);
  Tensor yt = poisoned({2, 3, 7}, DType::F32, *cpu), yr = poisoned({6, 7}, DType::F32, *cpu);
  tok->forward(*cpu, x, yt, true);
  rows->forward(*cpu, x.reshape({6, 5}), yr, true);
  EXPECT_EQ(yt.to_vector(*cpu), yr.to_vector(*cpu));
  Tensor dxt = poisoned({2, 3, 5}, DType::F32, *cpu), dxr = poisoned({6, 5}, DType::F32, *cpu);
  tok->backward(*cpu, x, yt, dy, &dxt);
  rows->backward(*cpu, x.reshape({6, 5}), yr, dy.reshape({6, 7}), &dxr);
  EXPECT_EQ(dxt.to_vector(*cpu), dxr.to_vector(*cpu));
  for (size_t k = 0; k < 2; ++k)
    EXPECT_EQ(tok->params()[k]->grad.to_vector(*cpu), rows->params()[k]->grad.to_vector(*cpu));
  EXPECT_EQ(tok->gemm_shape({2, 3, 5}).N, 6);
}

// ---- a sentence-embedding graph -------------------------------------------------

// ids, mask -> embedding -> layernorm -> linear (per token) -> gelu ->
// meanpool(mask) -> l2norm, forward and backward through Net on the CPU.
TEST(TransformerGraph, SentenceEmbeddingRunsForwardAndBackward) {
  const json g = json::parse(R"({"name": "sentence", "inputs": [{"name": "ids", "shape": [5]},
      {"name": "mask", "shape": [5]}], "outputs": ["norm"], "layers": [
      {"type": "embedding", "name": "emb", "vocab": 13, "hidden": 37, "positions": 8, "token_types": 2,
       "inputs": ["ids"]},
      {"type": "layernorm", "name": "ln"},
      {"type": "linear", "name": "proj", "out": 19},
      {"type": "gelu", "name": "act"},
      {"type": "meanpool", "name": "pool", "inputs": ["act", "mask"]},
      {"type": "l2norm", "name": "norm"}]})");
  Net net = Net::from_graph(g, "sentence");
  EXPECT_EQ(net.tensor_shape("proj", 2), (Shape{2, 5, 19}));
  EXPECT_EQ(net.tensor_shape("norm", 2), (Shape{2, 19}));
  net.init(3);
  auto cpu = Context::cpu();
  Tensor ids = Tensor::from_vector({2, 5}, {1, 4, 4, 12, 0, 7, 3, 9, 0, 0});
  Tensor mask = Tensor::from_vector({2, 5}, {1, 1, 1, 1, 1, 1, 1, 1, 0, 0});
  std::vector<Tensor> out = net.forward(*cpu, {ids, mask}, true);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].shape(), (Shape{2, 19}));
  std::vector<float> y = out[0].to_vector(*cpu);
  for (int b = 0; b < 2; ++b) {
    double q = 0;
    for (int j = 0; j < 19; ++j) q += double(y[size_t(b * 19 + j)]) * y[size_t(b * 19 + j)];
    EXPECT_NEAR(std::sqrt(q), 1.0, 1e-5) << "row " << b;
  }
  // loss = sum(y r); its gradient for a few word-table entries against
  // central differences in fp32 (h = 1e-2: the loss is O(1), its rounding
  // ~1e-7 / h = 1e-5, the curvature term h^2 |f'''| small at this scale).
  Tensor r = random_tensor({2, 19}, 5);
  net.backward(*cpu, {r});
  Param* word = nullptr;
  for (Param* p : net.find("emb")->params())
    if (p->name == "word") word = p;
  ASSERT_NE(word, nullptr);
  std::vector<float> grad = word->grad.to_vector(*cpu);
  auto loss = [&] {
    std::vector<float> v = net.forward(*cpu, {ids, mask}, true)[0].to_vector(*cpu), rv = r.to_vector(*cpu);
    double s = 0;
    for (size_t i = 0; i < v.size(); ++i) s += double(v[i]) * rv[i];
    return s;
  };
  const float h = 1e-2f;
  int checked = 0;
  for (int64_t row : {4, 12, 9, 0}) {  // 4 twice in sentence 0; 0 only under the mask in sentence 1
    for (int64_t j : {0, 17, 36}) {
      float* v = word->value.data<float>() + row * 37 + j;
      const float keep = *v;
      *v = keep + h;
      const double lp = loss();
      *v = keep - h;
      const double lm = loss();
      *v = keep;
      const double num = (lp - lm) / (2 * h);
      EXPECT_NEAR(grad[size_t(row * 37 + j)], num, 2e-3 + 2e-2 * std::fabs(num)) << "word[" << row << ", " << j << "]";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 12);
  // Row 0 appears in sentence 0 (kept) and sentence 1 (masked out); row 5 in none.
  for (int64_t j = 0; j < 37; ++j) EXPECT_EQ(grad[size_t(5 * 37 + j)], 0.f);
}

}  // namespace
}  // namespace deftnn::test
