// Helpers for the layer tests: run a layer built from its graph entry on a
// device and dtype with poisoned outputs, and a central-difference gradient
// check in double on the CPU.
#pragma once

#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>

#include "layers/layer.h"
#include "test_util.h"

namespace deftnn::test {

// A copy of host values as a tensor of `dtype` (F32 or F64) on ctx's device.
inline Tensor make_tensor(const Shape& s, const std::vector<double>& v, DType dtype, Context& ctx) {
  Tensor t = Tensor::empty(s, dtype);
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == DType::F64) t.data<double>()[i] = v[i];
    else t.data<float>()[i] = float(v[i]);
  }
  return ctx.is_cuda() ? t.to(Device::CUDA, ctx) : t;
}

// Host values of an F32 or F64 tensor, as doubles.
inline std::vector<double> values(const Tensor& t, Context& ctx) {
  Tensor h = t.device() == Device::CPU ? t : t.to(Device::CPU, ctx);
  std::vector<double> v(size_t(h.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = h.dtype() == DType::F64 ? h.data<double>()[i] : h.data<float>()[i];
  return v;
}

inline std::vector<double> random_doubles(size_t n, uint64_t seed, double lo = -1, double hi = 1) {
  auto f = random_vector(n, seed, float(lo), float(hi));
  return std::vector<double>(f.begin(), f.end());
}

// Re-homes every parameter (value and, when defined, grad) on ctx's device as `dtype`.
inline void move_params(Layer& l, Context& ctx, DType dtype) {
  for (Param* p : l.params()) {
    p->value = make_tensor(p->value.shape(), values(p->value, ctx), dtype, ctx);
    if (p->grad.defined()) p->grad = make_tensor(p->grad.shape(), values(p->grad, ctx), dtype, ctx);
  }
}

// NaN-poisoned output of `shape` on ctx's device (F32; F64 filled through the host).
inline Tensor poisoned(const Shape& s, DType dtype, Context& ctx) {
  return make_tensor(s, std::vector<double>(size_t(shape_numel(s)), std::nan("")), dtype, ctx);
}

// One layer instance on one device and dtype: forward and backward with
// poisoned outputs, results as host doubles.
struct LayerRun {
  std::unique_ptr<Layer> layer;
  Context* ctx;
  DType dtype;
  Shape in, out;
  Tensor x, y;

  // setup(layer) runs after infer and init_params, on CPU F32 parameters.
  LayerRun(const nlohmann::json& spec, const Shape& in_shape, Context& c, DType dt,
           const std::function<void(Layer&)>& setup = {})
      : layer(make_layer(spec)), ctx(&c), dtype(dt), in(in_shape) {
    out = layer->infer(in);
    Rng rng(7);
    layer->init_params(rng);
    if (setup) setup(*layer);
    move_params(*layer, c, dt);
  }
  std::vector<double> forward(const std::vector<double>& xv, bool train) {
    x = make_tensor(in, xv, dtype, *ctx);
    y = poisoned(out, dtype, *ctx);
    layer->forward(*ctx, x, y, train);
    return values(y, *ctx);
  }
  // dx for dy (after forward); parameter grads via param_grads().
  std::vector<double> backward(const std::vector<double>& dyv) {
    Tensor dy = make_tensor(out, dyv, dtype, *ctx);
    Tensor dx = poisoned(in, dtype, *ctx);
    layer->backward(*ctx, x, y, dy, &dx);
    return values(dx, *ctx);
  }
  std::vector<std::vector<double>> param_grads() {
    std::vector<std::vector<double>> g;
    for (Param* p : layer->params())
      if (p->trainable) g.push_back(values(p->grad, *ctx));
    return g;
  }
};

inline ::testing::AssertionResult close(const std::vector<double>& got, const std::vector<double>& ref, double atol,
                                        double rtol, const std::string& what) {
  return all_close(std::vector<float>(got.begin(), got.end()), ref, atol, rtol, what);
}

// Exact comparison of two double vectors (NaN never equal).
inline ::testing::AssertionResult close_f64(const std::vector<double>& got, const std::vector<double>& ref,
                                            double atol, double rtol, const std::string& what) {
  if (got.size() != ref.size()) return ::testing::AssertionFailure() << what << ": size mismatch";
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - ref[i]) <= atol + rtol * std::fabs(ref[i])))
      return ::testing::AssertionFailure() << what << ": [" << i << "] got " << got[i] << " want " << ref[i]
                                           << " (atol " << atol << ", rtol " << rtol << ")";
  return ::testing::AssertionSuccess();
}

// Central-difference check in double of loss = sum(y * r), r random, for the
// input and every trainable parameter. before_forward (optional) runs before
// each forward (e.g. to pin dropout's mask).
//
// Tolerance: with step h the truncation error is h^2 |f'''| / 6 and the
// rounding error eps64 sum|y r| / h; for h = 1e-5, |f'''| <= 100 and
// sum|y r| <= 1e3 both stay below 2e-8, so atol 1e-6 + rtol 1e-6 has 50x margin.
inline void gradient_check(const nlohmann::json& spec, const Shape& in, const std::vector<double>& xv, bool train,
                           const std::function<void(Layer&)>& setup = {},
                           const std::function<void(Layer&)>& before_forward = {}, double h = 1e-5) {
  auto ctx = Context::cpu();
  LayerRun run(spec, in, *ctx, DType::F64, setup);
  auto r = random_doubles(size_t(shape_numel(run.out)), 99);
  auto loss = [&](const std::vector<double>& x) {
    if (before_forward) before_forward(*run.layer);
    auto y = run.forward(x, train);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
    return s;
  };
  loss(xv);
  auto dx = run.backward(r);
  auto grads = run.param_grads();
  std::vector<double> num(xv.size());
  auto x = xv;
  for (size_t i = 0; i < x.size(); ++i) {
    double keep = x[i];
    x[i] = keep + h;
    double lp = loss(x);
    x[i] = keep - h;
    double lm = loss(x);
    x[i] = keep;
    num[i] = (lp - lm) / (2 * h);
  }
  EXPECT_TRUE(close_f64(dx, num, 1e-6, 1e-6, spec.dump() + " input gradient"));
  size_t k = 0;
  for (Param* p : run.layer->params()) {
    if (!p->trainable) continue;
    std::vector<double> pn(size_t(p->value.numel()));
    double* pv = p->value.data<double>();
    for (size_t i = 0; i < pn.size(); ++i) {
      double keep = pv[i];
      pv[i] = keep + h;
      double lp = loss(x);
      pv[i] = keep - h;
      double lm = loss(x);
      pv[i] = keep;
      pn[i] = (lp - lm) / (2 * h);
    }
    EXPECT_TRUE(close_f64(grads[k++], pn, 1e-6, 1e-6, spec.dump() + " gradient of " + p->name));
  }
}


struct Tolerance {
  double fwd_atol, fwd_rtol;  // F32 forward against the fp64 reference
  double bwd_atol, bwd_rtol;  // F32 backward against the layer's own F64 backward (gradient-checked)
};

// The layer in F32 on `dev` against the fp64 plain-loop reference `ref`
// (forward) and against its own F64 CPU backward (input and parameter
// gradients), with NaN-poisoned outputs. The F64 CPU forward must match the
// reference to 1e-12 relative.
inline void check_layer(Device dev, const nlohmann::json& spec, const Shape& in, const std::vector<double>& xv,
                        bool train, const std::function<std::vector<double>(const std::vector<double>&)>& ref,
                        const Tolerance& tol, const std::function<void(Layer&)>& setup = {},
                        const std::function<void(Layer&)>& before_forward = {}) {
  auto cpu = Context::cpu();
  LayerRun r64(spec, in, *cpu, DType::F64, setup);
  if (before_forward) before_forward(*r64.layer);
  auto want = ref(xv);
  EXPECT_TRUE(close_f64(r64.forward(xv, train), want, 1e-12, 1e-12, spec.dump() + " F64 forward"));
  auto dyv = random_doubles(want.size(), 4242);
  auto dx64 = r64.backward(dyv);
  auto g64 = r64.param_grads();

  auto ctx = Context::make(dev);
  LayerRun r32(spec, in, *ctx, DType::F32, setup);
  if (before_forward) before_forward(*r32.layer);
  std::string where = std::string(device_name(dev)) + " " + spec.dump() + " " + shape_str(in);
  EXPECT_TRUE(close(r32.forward(xv, train), want, tol.fwd_atol, tol.fwd_rtol, where + " forward"));
  EXPECT_TRUE(close(r32.backward(dyv), dx64, tol.bwd_atol, tol.bwd_rtol, where + " input gradient"));
  auto g32 = r32.param_grads();
  ASSERT_EQ(g32.size(), g64.size());
  for (size_t k = 0; k < g32.size(); ++k)
    EXPECT_TRUE(close(g32[k], g64[k], tol.bwd_atol * 10, tol.bwd_rtol, where + " parameter gradient " + std::to_string(k)));
}

}  // namespace deftnn::test
