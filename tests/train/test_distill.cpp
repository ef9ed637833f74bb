// The distillation loss (train/distill.h): value and gradient against an fp64
// plain-loop reference, the gradient against central differences of that
// reference, CUDA against the CPU path, and the trainer reading the teacher's
// rows in the loader's order.
#include <cmath>

#include "layers/layer_test_util.h"
#include "layers/loss.h"
#include "net/net.h"
#include "train/distill.h"
#include "train/trainer.h"

namespace deftnn::test {
namespace {

struct DistillRef {
  double loss = 0, hard = 0, soft = 0;
  std::vector<double> grad;
  int64_t correct = 0;
};

std::vector<double> softmax_row(const double* x, int64_t c, double scale) {
  double mx = -INFINITY, sum = 0;
  for (int64_t j = 0; j < c; ++j) mx = std::max(mx, x[j] * scale);
  std::vector<double> p(static_cast<size_t>(c), 0.0);
  for (int64_t j = 0; j < c; ++j) sum += p[size_t(j)] = std::exp(x[j] * scale - mx);
  for (auto& v : p) v /= sum;
  return p;
}

// The definition, term by term, in fp64.
DistillRef distill_ref(const std::vector<double>& z, const std::vector<int32_t>& y, const std::vector<double>& t,
                       int64_t C, double T, double lambda) {
  const int64_t N = int64_t(y.size());
  DistillRef r;
  r.grad.resize(z.size());
  for (int64_t i = 0; i < N; ++i) {
    const double *zi = z.data() + i * C, *ti = t.data() + i * C;
    auto s = softmax_row(zi, C, 1), q = softmax_row(zi, C, 1 / T), p = softmax_row(ti, C, 1 / T);
    int64_t arg = 0;
    for (int64_t j = 1; j < C; ++j)
      if (zi[j] > zi[arg]) arg = j;
    r.correct += arg == y[size_t(i)];
    const double ce = -std::log(s[size_t(y[size_t(i)])]);
    double kl = 0;
    for (int64_t j = 0; j < C; ++j) kl += p[size_t(j)] * std::log(p[size_t(j)] / q[size_t(j)]);
    r.hard += ce / double(N);
    r.soft += kl / double(N);
    r.loss += ((1 - lambda) * ce + lambda * T * T * kl) / double(N);
    for (int64_t j = 0; j < C; ++j)
      r.grad[size_t(i * C + j)] =
          ((1 - lambda) * (s[size_t(j)] - (j == y[size_t(i)])) + lambda * T * (q[size_t(j)] - p[size_t(j)])) /
          double(N);
  }
  return r;
}

Tensor labels_on(const std::vector<int32_t>& v, Context& ctx) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::I32);
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return ctx.is_cuda() ? t.to(Device::CUDA, ctx) : t;
}

std::vector<int32_t> random_labels(int64_t n, int64_t c, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v(static_cast<size_t>(n), 0);
  for (auto& l : v) l = int32_t(rng.below(uint64_t(c)));
  return v;
}

struct Case {
  int64_t N, C;
  double T, lambda;
};
const Case kCases[] = {{7, 10, 4, 0.5}, {5, 33, 1, 0.3}, {64, 10, 2.5, 1}, {3, 10, 4, 0}, {4, 1, 3, 0.7}, {9, 17, 8, 0.9}};

// F32 against the fp64 reference. Logits in [-5, 5]. Each exp carries about
// 2 eps (eps = 2^-24 ~ 6e-8) and a sum of C of them C eps, so every
// probability and log-sum-exp is within (C + 4) eps; the KL sums C such terms
// and is scaled by T^2: loss atol 2 (T^2 + 1)(C + 4) eps, relative 1e-6 on
// top. The gradient row (1 - lambda)(s - onehot) + lambda T (q - p), over N:
// atol 2 (T + 1)(C + 4) eps / N.
void check_against_reference(Device dev) {
  auto ctx = Context::make(dev);
  const double eps = std::ldexp(1.0, -24);
  uint64_t seed = 300;
  for (const Case& k : kCases) {
    auto z = random_doubles(size_t(k.N * k.C), seed++, -5, 5);
    auto t = random_doubles(size_t(k.N * k.C), seed++, -5, 5);
    for (auto& v : z) v = double(float(v));
    for (auto& v : t) v = double(float(v));
    auto y = random_labels(k.N, k.C, seed++);
    const DistillRef ref = distill_ref(z, y, t, k.C, k.T, k.lambda);
    Tensor grad = poisoned({k.N, k.C}, DType::F32, *ctx);
    int64_t correct = 2;  // added to
    train::DistillLoss got = train::distillation_loss(*ctx, make_tensor({k.N, k.C}, z, DType::F32, *ctx),
                                                      labels_on(y, *ctx), make_tensor({k.N, k.C}, t, DType::F32, *ctx),
                                                      k.T, k.lambda, &grad, &correct);
    const std::string what = fmt::format("{} N={} C={} T={} lambda={}", device_name(dev), k.N, k.C, k.T, k.lambda);
    const double atol = 2 * (k.T * k.T + 1) * double(k.C + 4) * eps;
    EXPECT_NEAR(got.loss, ref.loss, atol + 1e-6 * std::fabs(ref.loss)) << what;
    EXPECT_NEAR(got.hard, ref.hard, atol + 1e-6 * ref.hard) << what;
    EXPECT_NEAR(got.soft, ref.soft, atol + 1e-6 * ref.soft) << what;
    EXPECT_EQ(correct, 2 + ref.correct) << what;
    EXPECT_TRUE(close(values(grad, *ctx), ref.grad, 2 * (k.T + 1) * double(k.C + 4) * eps / double(k.N), 1e-6,
                      what + " dlogits"));
    // Without the gradient: the same loss.
    EXPECT_EQ(train::distillation_loss(*ctx, make_tensor({k.N, k.C}, z, DType::F32, *ctx), labels_on(y, *ctx),
                                       make_tensor({k.N, k.C}, t, DType::F32, *ctx), k.T, k.lambda, nullptr)
                  .loss,
              got.loss)
        << what;
  }
}

TEST(Distill, CpuMatchesReference) { check_against_reference(Device::CPU); }
TEST(Distill, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check_against_reference(Device::CUDA);
}

// The CUDA kernel runs the CPU path's row function: same operations, same
// order, so the two agree to a few ulps (the compilers may contract a * b + c
// differently): 8 eps relative on every value.
TEST(Distill, CudaMatchesCpuPath) {
  DEFTNN_REQUIRE_GPU();
  auto cpu = Context::cpu(), gpu = Context::cuda();
  const int64_t N = 300, C = 10;  // more rows than one block
  auto z = random_doubles(size_t(N * C), 410, -6, 6), t = random_doubles(size_t(N * C), 411, -6, 6);
  auto y = random_labels(N, C, 412);
  Tensor gc = poisoned({N, C}, DType::F32, *cpu), gg = poisoned({N, C}, DType::F32, *gpu);
  auto a = train::distillation_loss(*cpu, make_tensor({N, C}, z, DType::F32, *cpu), labels_on(y, *cpu),
                                    make_tensor({N, C}, t, DType::F32, *cpu), 4, 0.5, &gc);
  auto b = train::distillation_loss(*gpu, make_tensor({N, C}, z, DType::F32, *gpu), labels_on(y, *gpu),
                                    make_tensor({N, C}, t, DType::F32, *gpu), 4, 0.5, &gg);
  const double eps = std::ldexp(1.0, -24);
  EXPECT_NEAR(a.loss, b.loss, 8 * eps * std::fabs(a.loss) * C);
  EXPECT_TRUE(close(values(gg, *gpu), values(gc, *cpu), 8 * eps / double(N), 8 * eps * C, "gpu vs cpu dlogits"));
}

// The gradient belongs to the loss: the F64 path's dlogits against central
// differences of the fp64 reference loss. h = 1e-5: truncation h^2 |f'''| / 6
// below 1e-10 for these logits, rounding eps64 / h ~ 2e-11.
TEST(Distill, GradientMatchesCentralDifferences) {
  auto ctx = Context::cpu();
  for (const Case& k : {Case{4, 7, 3, 0.6}, Case{3, 10, 1, 0.25}, Case{2, 5, 6, 1}}) {
    auto z = random_doubles(size_t(k.N * k.C), 500 + uint64_t(k.C), -3, 3);
    auto t = random_doubles(size_t(k.N * k.C), 600 + uint64_t(k.C), -3, 3);
    auto y = random_labels(k.N, k.C, 700 + uint64_t(k.C));
    Tensor grad = poisoned({k.N, k.C}, DType::F64, *ctx);
    auto got = train::distillation_loss(*ctx, make_tensor({k.N, k.C}, z, DType::F64, *ctx), labels_on(y, *ctx),
                                        make_tensor({k.N, k.C}, t, DType::F64, *ctx), k.T, k.lambda, &grad);
    EXPECT_NEAR(got.loss, distill_ref(z, y, t, k.C, k.T, k.lambda).loss, 1e-12);
    std::vector<double> num(z.size());
    const double h = 1e-5;
    for (size_t i = 0; i < z.size(); ++i) {
      auto zp = z, zm = z;
      zp[i] += h, zm[i] -= h;
      num[i] = (distill_ref(zp, y, t, k.C, k.T, k.lambda).loss - distill_ref(zm, y, t, k.C, k.T, k.lambda).loss) /
               (2 * h);
    }
    EXPECT_TRUE(close_f64(values(grad, *ctx), num, 1e-8, 1e-6,
                          fmt::format("dlogits vs central differences, T={} lambda={}", k.T, k.lambda)));
  }
}

// Exact cases: a student equal to its teacher has KL 0 and its soft gradient
// vanishes; weight 0 is the plain cross-entropy (softmax_cross_entropy).
TEST(Distill, StudentEqualToTeacherAndPlainCrossEntropy) {
  auto ctx = Context::cpu();
  const int64_t N = 6, C = 10;
  auto z = random_doubles(size_t(N * C), 801, -4, 4);
  auto y = random_labels(N, C, 802);
  Tensor zt = make_tensor({N, C}, z, DType::F64, *ctx);
  Tensor g1 = poisoned({N, C}, DType::F64, *ctx), g0 = poisoned({N, C}, DType::F64, *ctx);
  auto same = train::distillation_loss(*ctx, zt, labels_on(y, *ctx), zt, 3, 1, &g1);
  EXPECT_NEAR(same.soft, 0, 1e-15);
  EXPECT_NEAR(same.loss, 0, 1e-14);
  for (double v : values(g1, *ctx)) EXPECT_NEAR(v, 0, 1e-16);
  Tensor t = make_tensor({N, C}, random_doubles(size_t(N * C), 803, -4, 4), DType::F64, *ctx);
  auto hard = train::distillation_loss(*ctx, zt, labels_on(y, *ctx), t, 3, 0, &g0);
  Tensor gx = poisoned({N, C}, DType::F64, *ctx);
  const double xent = softmax_cross_entropy(*ctx, zt, labels_on(y, *ctx), &gx);
  EXPECT_NEAR(hard.loss, xent, 1e-6);  // softmax_cross_entropy returns a float
  EXPECT_TRUE(close_f64(values(g0, *ctx), values(gx, *ctx), 1e-15, 1e-12, "weight 0 vs cross-entropy"));
}

TEST(Distill, RejectsBadInput) {
  auto ctx = Context::cpu();
  Tensor z = make_tensor({2, 3}, random_doubles(6, 1), DType::F32, *ctx);
  Tensor t = make_tensor({2, 3}, random_doubles(6, 2), DType::F32, *ctx);
  auto expect_error = [](auto&& f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "accepted; expected an error with '" << part << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error([&] { train::distillation_loss(*ctx, z, labels_on({0, 3}, *ctx), t, 2, 0.5, nullptr); },
               "outside [0, 3)");
  expect_error([&] { train::distillation_loss(*ctx, z, labels_on({0, 1}, *ctx), z.reshape({3, 2}), 2, 0.5, nullptr); },
               "teacher logits");
  expect_error([&] { train::distillation_loss(*ctx, z, labels_on({0, 1}, *ctx), t, 0, 0.5, nullptr); },
               "temperature");
  expect_error([&] { train::distillation_loss(*ctx, z, labels_on({0, 1}, *ctx), t, 2, 1.5, nullptr); }, "weight");
}

// The trainer hands each batch the teacher's rows of that batch's images.
// Labels are random, but the teacher's logits favour the true class of a
// linear rule: trained on the teacher alone (weight 1) a linear net learns the
// rule (far above the 10% of chance), which it could not if the rows were
// paired with the wrong images; on the random labels alone it learns nothing.
TEST(Distill, TrainerPairsTeacherRowsWithTheirImages) {
  auto ctx = Context::cpu();
  const int64_t n = 1024, d = 16;
  data::Dataset ds;
  ds.name = "rule";
  ds.images = random_tensor({n, 1, 4, 4}, 900);
  ds.labels = labels_on(random_labels(n, 10, 901), *ctx);
  auto w = random_vector(size_t(10 * d), 902);
  Tensor teacher = Tensor::empty({n, 10});
  std::vector<int32_t> rule(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < 10; ++c) {
      double s = 0;
      for (int64_t k = 0; k < d; ++k) s += double(w[size_t(c * d + k)]) * ds.images.data<float>()[i * d + k];
      teacher.data<float>()[i * 10 + c] = float(3 * s);
    }
    rule[size_t(i)] = int32_t(std::max_element(teacher.data<float>() + i * 10, teacher.data<float>() + i * 10 + 10) -
                              (teacher.data<float>() + i * 10));
  }
  data::Dataset truth = ds;
  truth.labels = labels_on(rule, *ctx);
  nlohmann::json g = {{"name", "lin"}, {"input", {1, 4, 4}}, {"classes", 10},
                      {"layers", {{{"type", "linear"}, {"name", "fc"}, {"out", 10}}}}};
  auto accuracy_after = [&](double weight) {
    Net net = Net::from_graph(g, "lin");
    net.init(5);
    net.to(*ctx);
    train::TrainConfig cfg;
    cfg.epochs = 6;
    cfg.batch = 32;
    cfg.lr.base_lr = 0.1;
    cfg.progress = false;
    cfg.keep_best = false;
    cfg.distill.teacher_logits = teacher;
    cfg.distill.weight = weight;
    cfg.distill.temperature = 2;
    train::Trainer(net, *ctx, cfg).fit(ds, nullptr);
    return train::evaluate(net, *ctx, truth).accuracy;
  };
  EXPECT_GT(accuracy_after(1), 0.8);
  EXPECT_LT(accuracy_after(0), 0.3);
}

}  // namespace
}  // namespace deftnn::test
