// TEMPORARY test-only layer registry, until the real layers (branches
// `layers` and `gemmlayers`) land on main: shape inference and parameter
// sizing for every type the models use, CPU forward/backward for linear and
// relu only. Delete this file when src/layers/registry.cpp exists.
#include <cmath>
#include <span>

#include "core/error.h"
#include "layers/layer.h"

namespace deftnn {
namespace {

using nlohmann::json;

int64_t geti(const json& s, const char* k, int64_t d) { return s.contains(k) ? s[k].get<int64_t>() : d; }

class StubConv : public Layer {
 public:
  explicit StubConv(const json& s) : Layer(s["name"]), spec_(s) {
    out_ = s["out"]; k_ = s["kernel"]; st_ = geti(s, "stride", 1); pad_ = geti(s, "pad", 0); g_ = geti(s, "groups", 1);
  }
  std::string type() const override { return "conv"; }
  Shape infer(const Shape& in) override {
    DEFTNN_CHECK(in.size() == 4 && in[1] % g_ == 0, "conv '{}': bad input {}", name(), shape_str(in));
    if (!w_.value.defined()) {
      w_.name = "weight"; w_.value = Tensor::empty({out_, in[1] / g_, k_, k_});
      b_.name = "bias"; b_.value = Tensor::empty({out_});
    }
    DEFTNN_CHECK(w_.value.dim(1) == in[1] / g_, "conv '{}': weight is {} but the input is {}", name(),
                 shape_str(w_.value.shape()), shape_str(in));
    return {in[0], out_, (in[2] + 2 * pad_ - k_) / st_ + 1, (in[3] + 2 * pad_ - k_) / st_ + 1};
  }
  void init_params(Rng& rng) override {
    auto cpu = Context::cpu();
    w_.value.fill_(0.f, *cpu);
    for (float& v : std::span(w_.value.data<float>(), size_t(w_.value.numel()))) v = rng.normal(0.f, 0.01f);
    b_.value.fill_(0.f, *cpu);
  }
  std::vector<Param*> params() override { return {&w_, &b_}; }
  void forward(Context&, const Tensor&, Tensor&, bool) override { DEFTNN_FAIL("stub conv has no forward"); }
  void backward(Context&, const Tensor&, const Tensor&, const Tensor&, Tensor*) override { DEFTNN_FAIL("stub"); }
  json config() const override { return spec_; }

 private:
  json spec_;
  int64_t out_, k_, st_, pad_, g_;
  Param w_, b_;
};

class StubLinear : public Layer {
 public:
  explicit StubLinear(const json& s) : Layer(s["name"]), spec_(s) { out_ = s["out"]; }
  std::string type() const override { return "linear"; }
  Shape infer(const Shape& in) override {
    int64_t f = shape_numel(in) / in[0];
    if (!w_.value.defined()) {
      w_.name = "weight"; w_.value = Tensor::empty({out_, f});
      b_.name = "bias"; b_.value = Tensor::empty({out_});
    }
    DEFTNN_CHECK(w_.value.dim(1) == f, "linear '{}': weight is {} but the input is {}", name(),
                 shape_str(w_.value.shape()), shape_str(in));
    return {in[0], out_};
  }
  void init_params(Rng& rng) override {
    for (float& v : std::span(w_.value.data<float>(), size_t(w_.value.numel()))) v = rng.normal(0.f, 0.3f);
    for (float& v : std::span(b_.value.data<float>(), size_t(b_.value.numel()))) v = rng.normal(0.f, 0.1f);
  }
  std::vector<Param*> params() override { return {&w_, &b_}; }
  void forward(Context&, const Tensor& x, Tensor& y, bool) override {
    int64_t n = x.dim(0), f = w_.value.dim(1);
    const float *X = x.data<float>(), *W = w_.value.data<float>(), *B = b_.value.data<float>();
    float* Y = y.data<float>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < out_; ++o) {
        double s = B[o];
        for (int64_t k = 0; k < f; ++k) s += double(W[o * f + k]) * X[i * f + k];
        Y[i * out_ + o] = float(s);
      }
  }
  void backward(Context&, const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) override {
    int64_t n = x.dim(0), f = w_.value.dim(1);
    const float *X = x.data<float>(), *W = w_.value.data<float>(), *DY = dy.data<float>();
    float *DW = w_.grad.data<float>(), *DB = b_.grad.data<float>();
    for (int64_t o = 0; o < out_; ++o) {
      double sb = 0;
      for (int64_t i = 0; i < n; ++i) sb += DY[i * out_ + o];
      DB[o] = float(sb);
      for (int64_t k = 0; k < f; ++k) {
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += double(DY[i * out_ + o]) * X[i * f + k];
        DW[o * f + k] = float(s);
      }
    }
    if (dx) {
      float* DX = dx->data<float>();
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < f; ++k) {
          double s = 0;
          for (int64_t o = 0; o < out_; ++o) s += double(DY[i * out_ + o]) * W[o * f + k];
          DX[i * f + k] = float(s);
        }
    }
  }
  json config() const override { return spec_; }

 private:
  json spec_;
  int64_t out_;
  Param w_, b_;
};

class StubShape : public Layer {  // relu, pools, lrn, dropout, flatten
 public:
  explicit StubShape(const json& s) : Layer(s["name"]), spec_(s), type_(s["type"]) {}
  std::string type() const override { return type_; }
  Shape infer(const Shape& in) override {
    if (type_ == "flatten") return {in[0], shape_numel(in) / in[0]};
    if (type_ != "maxpool" && type_ != "avgpool") return in;
    int64_t k = spec_["kernel"], s = geti(spec_, "stride", 1), p = geti(spec_, "pad", 0);
    auto o = [&](int64_t h) {
      int64_t r = int64_t(std::ceil(double(h + 2 * p - k) / double(s))) + 1;
      if (p > 0 && (r - 1) * s >= h + p) --r;
      return r;
    };
    return {in[0], in[1], o(in[2]), o(in[3])};
  }
  void forward(Context&, const Tensor& x, Tensor& y, bool) override {
    DEFTNN_CHECK(type_ == "relu", "stub {} has no forward", type_);
    for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = std::max(0.f, x.data<float>()[i]);
  }
  void backward(Context&, const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) override {
    if (dx)
      for (int64_t i = 0; i < x.numel(); ++i)
        dx->data<float>()[i] = x.data<float>()[i] > 0 ? dy.data<float>()[i] : 0.f;
  }
  json config() const override { return spec_; }

 private:
  json spec_;
  std::string type_;
};

}  // namespace

std::vector<std::string> known_layer_types() {
  return {"avgpool", "conv", "dropout", "flatten", "linear", "lrn", "maxpool", "relu"};
}

std::unique_ptr<Layer> make_layer(const json& spec) {
  std::string t = spec["type"];
  if (t == "conv") return std::make_unique<StubConv>(spec);
  if (t == "linear") return std::make_unique<StubLinear>(spec);
  for (const auto& k : known_layer_types())
    if (k == t) return std::make_unique<StubShape>(spec);
  DEFTNN_FAIL("unknown type '{}' (known: avgpool conv dropout flatten linear lrn maxpool relu)", t);
}

}  // namespace deftnn
