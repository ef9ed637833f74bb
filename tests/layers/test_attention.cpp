// The attention layer: CPU (F64 and F32) against a plain fp64 reference
// written differently here (padded keys left out of the softmax rather than
// given the lowest score), gradients of q, k and v by central differences in
// fp64, padding that changes nothing, CUDA against the fp64 layer, poisoned
// outputs and gradients (every element must be written), ragged T (1, 7, 13)
// and D (8, 12, 32), and shape errors.
#include <cmath>

#include "layers/layer_test_util.h"

namespace deftnn::test {
namespace {

using json = nlohmann::json;

struct Case {
  int64_t n, t, heads, d;
};

// Values as fp32 holds them, so the fp64 reference sees the layer's inputs.
std::vector<double> f32_values(size_t n, uint64_t seed, double lo = -1, double hi = 1) {
  auto v = random_doubles(n, seed, lo, hi);
  for (auto& x : v) x = double(float(x));
  return v;
}

// Sequence s keeps its first len(s) tokens: full, one short, ..., at least
// one; the last sequence of a batch of 3 or more is padding only.
std::vector<double> make_mask(const Case& c) {
  std::vector<double> m(size_t(c.n * c.t), 0.0);
  for (int64_t s = 0; s < c.n; ++s) {
    int64_t len = std::max<int64_t>(1, c.t - 3 * s);
    if (c.n >= 3 && s == c.n - 1) len = 0;
    for (int64_t i = 0; i < len; ++i) m[size_t(s * c.t + i)] = 1;
  }
  return m;
}

// softmax over the unmasked keys of (q_i . k_j) / sqrt(D), times v; a
// sequence with no token averages all values (what an additive lowest gives).
std::vector<double> attention_ref(const Case& c, const std::vector<double>& q, const std::vector<double>& k,
                                  const std::vector<double>& v, const std::vector<double>& m) {
  const int64_t hd = c.heads * c.d;
  std::vector<double> out(q.size(), 0.0);
  for (int64_t s = 0; s < c.n; ++s) {
    bool any = false;
    for (int64_t j = 0; j < c.t; ++j) any |= m[size_t(s * c.t + j)] != 0;
    for (int64_t h = 0; h < c.heads; ++h)
      for (int64_t i = 0; i < c.t; ++i) {
        auto at = [&](int64_t tok, int64_t e) { return size_t((s * c.t + tok) * hd + h * c.d + e); };
        std::vector<double> w(size_t(c.t), 0.0);
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < c.t; ++j) {
          if (any && m[size_t(s * c.t + j)] == 0) continue;
          double dot = 0;
          for (int64_t e = 0; e < c.d; ++e) dot += q[at(i, e)] * k[at(j, e)];
          w[size_t(j)] = any ? dot / std::sqrt(double(c.d)) : 0.0;
          mx = std::max(mx, w[size_t(j)]);
        }
        for (int64_t j = 0; j < c.t; ++j)
          if (!any || m[size_t(s * c.t + j)] != 0) sum += w[size_t(j)] = std::exp(w[size_t(j)] - mx);
          else w[size_t(j)] = 0;
        for (int64_t j = 0; j < c.t; ++j)
          for (int64_t e = 0; e < c.d; ++e) out[at(i, e)] += w[size_t(j)] / sum * v[at(j, e)];
      }
  }
  return out;
}

json spec_of(const Case& c) { return {{"type", "attention"}, {"name", "att"}, {"heads", c.heads}}; }

std::string label(const Case& c) {
  return "n " + std::to_string(c.n) + " t " + std::to_string(c.t) + " heads " + std::to_string(c.heads) + " d " +
         std::to_string(c.d);
}

// One layer on one device and dtype; outputs and gradients poisoned.
struct AttentionRun {
  std::unique_ptr<Layer> layer;
  Context* ctx;
  DType dtype;
  Case c;
  std::vector<Tensor> x;
  Tensor y;

  AttentionRun(const Case& cs, Context& cx, DType dt) : layer(make_layer(spec_of(cs))), ctx(&cx), dtype(dt), c(cs) {
    const Shape s{c.n, c.t, c.heads * c.d};
    EXPECT_EQ(layer->infer_multi({s, s, s, {c.n, c.t}}), std::vector<Shape>{s});
  }
  Shape shape() const { return {c.n, c.t, c.heads * c.d}; }
  // xv: q, k, v, mask.
  std::vector<double> forward(const std::vector<std::vector<double>>& xv) {
    x.clear();
    for (size_t i = 0; i < 4; ++i) x.push_back(make_tensor(i < 3 ? shape() : Shape{c.n, c.t}, xv[i], dtype, *ctx));
    y = poisoned(shape(), dtype, *ctx);
    layer->forward_multi(*ctx, {&x[0], &x[1], &x[2], &x[3]}, {&y}, true);
    return values(y, *ctx);
  }
  // dq, dk, dv, dmask for the wanted ones (empty where not wanted).
  std::vector<std::vector<double>> backward(const std::vector<double>& dyv, std::vector<bool> want = {}) {
    if (want.empty()) want = {true, true, true, true};
    Tensor dy = make_tensor(shape(), dyv, dtype, *ctx);
    std::vector<Tensor> dx(4);
    std::vector<Tensor*> dxp(4, nullptr);
    for (size_t i = 0; i < 4; ++i)
      if (want[i]) dx[i] = poisoned(i < 3 ? shape() : Shape{c.n, c.t}, dtype, *ctx), dxp[i] = &dx[i];
    layer->backward_multi(*ctx, {&x[0], &x[1], &x[2], &x[3]}, {&y}, {&dy}, dxp);
    std::vector<std::vector<double>> g(4);
    for (size_t i = 0; i < 4; ++i)
      if (want[i]) g[i] = values(dx[i], *ctx);
    return g;
  }
};

std::vector<std::vector<double>> inputs(const Case& c, uint64_t seed) {
  const size_t n = size_t(c.n * c.t * c.heads * c.d);
  // q and k in [-2, 2]: scores up to 4 sqrt(D), softmax weights far from uniform.
  return {f32_values(n, seed, -2, 2), f32_values(n, seed + 1, -2, 2), f32_values(n, seed + 2), make_mask(c)};
}

// Ragged T (1, 7, 13, 20) and MiniLM's 12 heads of 32 at T = 64; D 8, 12,
// 32; heads 1 to 12; batches of padding only; n <= heads and n > heads take
// the two cuBLAS batch layouts.
const std::vector<Case> kCases = {{2, 7, 3, 8},   {3, 13, 2, 12},  {1, 1, 4, 8},
                                  {5, 20, 1, 32}, {2, 16, 12, 32}, {3, 64, 12, 32}};

// fp32 against the fp64 reference: q.k of D <= 32 terms of |x| <= 2 errs by
// about sqrt(D) eps32 * 4 D ~ 1.4e-4 at worst (usually far less), the score
// by that / sqrt(D); the weights' relative error is the score's absolute
// error, so outputs (|v| <= 1) err by ~3e-5 at the worst case and ~1e-6
// typically: atol 5e-5. Gradients (|dy| <= 1, sums of T <= 20 terms of
// that size) against the layer's own fp64 gradients: atol 2e-4, rtol 1e-4.
constexpr double kFwdAtol = 5e-5, kFwdRtol = 1e-5, kBwdAtol = 2e-4, kBwdRtol = 1e-4;

void check_against_reference(Device dev) {
  auto cpu = Context::cpu();
  auto ctx = Context::make(dev);
  uint64_t seed = 100;
  for (const Case& c : kCases) {
    auto xv = inputs(c, seed += 10);
    auto want = attention_ref(c, xv[0], xv[1], xv[2], xv[3]);
    AttentionRun r64(c, *cpu, DType::F64);
    EXPECT_TRUE(close_f64(r64.forward(xv), want, 1e-13, 1e-12, "F64 forward " + label(c)));
    auto dyv = random_doubles(want.size(), seed + 5);
    auto g64 = r64.backward(dyv);
    AttentionRun r32(c, *ctx, DType::F32);
    const std::string where = std::string(device_name(dev)) + " F32 " + label(c);
    EXPECT_TRUE(close(r32.forward(xv), want, kFwdAtol, kFwdRtol, where + " forward"));
    auto g32 = r32.backward(dyv);
    const char* names[] = {"dq", "dk", "dv", "dmask"};
    for (size_t i = 0; i < 4; ++i)
      EXPECT_TRUE(close(g32[i], g64[i], kBwdAtol, kBwdRtol, where + " " + names[i]));
    EXPECT_TRUE(close_f64(g32[3], std::vector<double>(g32[3].size(), 0.0), 0, 0, where + " dmask is zero"));
  }
}

TEST(AttentionLayer, CpuMatchesReference) { check_against_reference(Device::CPU); }
TEST(AttentionLayer, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check_against_reference(Device::CUDA);
}

// Central differences of loss = sum(y r) in fp64 for every element of q, k
// and v (h = 1e-5: truncation h^2 |f'''| / 6 and rounding eps64 |loss| / h
// both below 1e-9 at these sizes; atol 1e-8, rtol 1e-6).
TEST(AttentionLayer, GradientCheck) {
  auto cpu = Context::cpu();
  for (const Case& c : {Case{2, 5, 2, 3}, Case{2, 4, 1, 4}}) {
    auto xv = inputs(c, 300);
    AttentionRun run(c, *cpu, DType::F64);
    auto r = random_doubles(size_t(c.n * c.t * c.heads * c.d), 301);
    run.forward(xv);
    auto g = run.backward(r);
    auto loss = [&](const std::vector<std::vector<double>>& v) {
      auto y = run.forward(v);
      double s = 0;
      for (size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
      return s;
    };
    const double h = 1e-5;
    const char* names[] = {"dq", "dk", "dv"};
    for (size_t in = 0; in < 3; ++in) {
      auto v = xv;
      std::vector<double> num(v[in].size());
      for (size_t i = 0; i < num.size(); ++i) {
        const double keep = v[in][i];
        v[in][i] = keep + h;
        const double lp = loss(v);
        v[in][i] = keep - h;
        const double lm = loss(v);
        v[in][i] = keep;
        num[i] = (lp - lm) / (2 * h);
      }
      EXPECT_TRUE(close_f64(g[in], num, 1e-8, 1e-6, std::string(names[in]) + " " + label(c)));
    }
  }
}

// A padded sequence gives its tokens' rows exactly what the unpadded one
// gives (bit for bit on the CPU: padded keys add exact zeros), and on the
// GPU the same up to the summation order cuBLAS picks for each T.
void check_padding(Device dev) {
  auto ctx = Context::make(dev);
  const Case full{1, 13, 3, 8}, cut{1, 9, 3, 8};
  auto xv = inputs(full, 400);
  for (int64_t i = 0; i < full.t; ++i) xv[3][size_t(i)] = i < cut.t ? 1 : 0;
  std::vector<std::vector<double>> xc(4);
  const int64_t hd = full.heads * full.d;
  for (size_t in = 0; in < 3; ++in) xc[in].assign(xv[in].begin(), xv[in].begin() + cut.t * hd);
  xc[3].assign(size_t(cut.t), 1.0);
  AttentionRun a(full, *ctx, DType::F32), b(cut, *ctx, DType::F32);
  auto ya = a.forward(xv), yb = b.forward(xc);
  auto dy = random_doubles(ya.size(), 401);
  for (size_t i = size_t(cut.t * hd); i < dy.size(); ++i) dy[i] = 0;  // no gradient through padded queries
  auto ga = a.backward(dy);
  auto gb = b.backward(std::vector<double>(dy.begin(), dy.begin() + cut.t * hd));
  const double tol = dev == Device::CPU ? 0 : 1e-6;
  std::vector<double> head(ya.begin(), ya.begin() + cut.t * hd);
  EXPECT_TRUE(close_f64(head, yb, tol, tol, "padded forward"));
  for (size_t in = 0; in < 3; ++in) {
    std::vector<double> g(ga[in].begin(), ga[in].begin() + cut.t * hd);
    EXPECT_TRUE(close_f64(g, gb[in], tol, tol, "padded gradient " + std::to_string(in)));
  }
  // Padded keys get no gradient from real queries (dk, dv rows past the cut).
  for (size_t in = 1; in < 3; ++in)
    for (size_t i = size_t(cut.t * hd); i < ga[in].size(); ++i) EXPECT_EQ(ga[in][i], 0.0) << in << " " << i;
}
TEST(AttentionLayer, PaddingChangesNothingCpu) { check_padding(Device::CPU); }
TEST(AttentionLayer, PaddingChangesNothingCuda) {
  DEFTNN_REQUIRE_GPU();
  check_padding(Device::CUDA);
}

// Only some gradients asked for: those written (poisoned before), the rest
// untouched, and the values equal to a full backward's.
void check_partial_gradients(Device dev) {
  auto ctx = Context::make(dev);
  const Case c{2, 7, 2, 8};
  auto xv = inputs(c, 500);
  AttentionRun run(c, *ctx, DType::F32);
  auto y = run.forward(xv);
  auto dy = random_doubles(y.size(), 501);
  auto all = run.backward(dy);
  for (std::vector<bool> want : {std::vector<bool>{false, false, true, false}, {true, false, false, false},
                                 {false, true, false, true}}) {
    auto g = run.backward(dy, want);
    for (size_t i = 0; i < 4; ++i)
      if (want[i]) {
        EXPECT_TRUE(close_f64(g[i], all[i], 0, 0, "partial gradient " + std::to_string(i)));
      }
  }
}
TEST(AttentionLayer, PartialGradientsCpu) { check_partial_gradients(Device::CPU); }
TEST(AttentionLayer, PartialGradientsCuda) {
  DEFTNN_REQUIRE_GPU();
  check_partial_gradients(Device::CUDA);
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(AttentionLayer, RejectsShapes) {
  auto l = make_layer({{"type", "attention"}, {"name", "att"}, {"heads", 4}});
  EXPECT_EQ(l->config(), (json{{"type", "attention"}, {"name", "att"}, {"heads", 4}}));
  expect_error([&] { l->infer_multi({{2, 3, 10}, {2, 3, 10}, {2, 3, 10}, {2, 3}}); },
               {"layer 'att' (attention)", "multiple of heads 4"});
  expect_error([&] { l->infer_multi({{2, 3, 8}, {2, 4, 8}, {2, 3, 8}, {2, 3}}); }, {"layer 'att' (attention)", "k"});
  expect_error([&] { l->infer_multi({{2, 3, 8}, {2, 3, 8}, {2, 3, 8}, {2, 4}}); }, {"mask", "(2, 3)"});
  expect_error([&] { l->infer_multi({{6, 8}, {6, 8}, {6, 8}, {6, 1}}); }, {"(N, T, H*D)"});
  expect_error([&] { l->infer_multi({{2, 3, 8}, {2, 3, 8}, {2, 3}}); }, {"got 3 inputs"});
  EXPECT_EQ(l->flops({2, 3, 8}), 4 * 2 * 3 * 3 * 8);
}

}  // namespace
}  // namespace deftnn::test
