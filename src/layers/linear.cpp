#include "layers/linear.h"

#include <algorithm>

#include "layers/filler.h"
#include "layers/gemm_layer_kernels.h"
#include "layers/layer_util.h"
#include "synapse/sve_apply.h"
#include "synapse/input_transform.h"

namespace deftnn {

Linear::Linear(const nlohmann::json& spec) : GemmLayer(SpecReader(spec).name()) {
  const std::string& nm = name();
  SpecReader r(spec);
  out_ = r.integer("out", std::nullopt, 1, kMaxLayerDim);
  has_bias_ = r.boolean("bias", true);
  bias_value_ = float(r.number("bias_value", 0.0, -1e30, 1e30));
  const nlohmann::json* filler = r.object("weight_filler");
  filler_ = filler ? *filler : nlohmann::json{{"type", "xavier"}};
  const nlohmann::json* sve = r.object("sve");
  r.finish();
  check_filler(filler_, nm);
  if (sve) set_sve_from_config(read_sve_entry(r, *sve));
  weight_.name = "weight";
  bias_.name = "bias";
}

int64_t Linear::features(const Shape& in) const {
  DEFTNN_CHECK(in.size() >= 2, "layer '{}': linear takes (N, F), (N, T, F) or (N, C, H, W), got {}", name(),
               shape_str(in));
  int64_t f = 1;
  for (size_t i = in.size() == 3 ? 2 : 1; i < in.size(); ++i) f *= in[i];
  DEFTNN_CHECK(f > 0, "layer '{}': empty input {}", name(), shape_str(in));
  DEFTNN_CHECK(in_f_ == 0 || f == in_f_, "layer '{}': expects {} input features, got input {} ({} features)", name(),
               in_f_, shape_str(in), f);
  return f;
}

int64_t Linear::token_rows(const Shape& in) { return in.size() == 3 ? in[0] * in[1] : in[0]; }

Shape Linear::infer(const Shape& in) {
  const int64_t f = features(in);
  if (in_f_ == 0) {
    in_f_ = f;
    if (sve().active()) check_sve(sve(), in_f_, name());
    if (!weight_.value.defined()) {
      const Shape ws{out_, gemm_k()};
      weight_.value = Tensor::empty(ws);
      weight_.grad = Tensor::empty(ws);
      if (has_bias_) {
        bias_.value = Tensor::empty({out_});
        bias_.grad = Tensor::empty({out_});
        bias_.decay_mult = 0.f;
        bias_.lr_mult = 2.f;
      }
    }
  }
  if (in.size() == 3) return {in[0], in[1], out_};  // per token
  return {in[0], out_};
}

void Linear::init_params(Rng& rng) {
  DEFTNN_CHECK(weight_.value.defined(), "layer '{}': init_params before infer", name());
  fill_weight(weight_.value, filler_, in_f_, rng, name());
  if (has_bias_) {
    DEFTNN_CHECK(!bias_.value.is_cuda(), "layer '{}': init_params before moving the parameters to the GPU", name());
    std::fill_n(bias_.value.data<float>(), out_, bias_value_);
  }
}

std::vector<Param*> Linear::params() {
  if (!weight_.value.defined()) return {};
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

GemmShape Linear::gemm_shape(const Shape& in) const {
  GemmShape s;
  s.M = out_, s.N = in.empty() ? 0 : token_rows(in), s.K = sve().active() ? gemm_k() : features(in);
  return s;
}

void Linear::forward(Context& ctx, const Tensor& x, Tensor& y, bool train) { forward_impl(ctx, x, y, false, 0.f); }

void Linear::forward_fused_relu(Context& ctx, const Tensor& x, Tensor& y, float slope) {
  forward_impl(ctx, x, y, true, slope);
}

void Linear::forward_impl(Context& ctx, const Tensor& x, Tensor& y, bool relu, float slope) {
  const Shape ys = infer(x.shape());
  DEFTNN_CHECK(y.shape() == ys, "layer '{}': output is {}, expected {}", name(), shape_str(y.shape()), shape_str(ys));
  DEFTNN_CHECK(x.device() == ctx.device() && y.device() == ctx.device() && weight_.value.device() == ctx.device(),
               "layer '{}': input on {}, output on {}, weight on {}, context on {}", name(), device_name(x.device()),
               device_name(y.device()), device_name(weight_.value.device()), device_name(ctx.device()));
  const int64_t N = token_rows(x.shape()), F = in_f_, Kp = gemm_k();
  GemmArgs a;
  a.M = out_, a.N = N, a.K = Kp;
  a.A = weight_.value.data<float>(), a.lda = Kp;
  a.trans_b = true;
  a.B = x.data<float>(), a.ldb = F;
  a.trans_c = true;
  a.C = y.data<float>(), a.ldc = out_;
  const SveState& sve = sve_on(ctx);
  if (sve.active()) {
    if (sve.transform == SveTransform::Swap) {
      float* xs = static_cast<float*>(ctx.workspace(size_t(N * F) * sizeof(float)));
      copy_f32(ctx, x.data<float>(), N * F, xs);
      if (!sve.swaps.empty()) deftnn::sve::swap_cols(ctx, xs, N, F, sve.swaps_device.data<int32_t>(), int64_t(sve.swaps.size()));
      a.B = xs, a.ldb = F;
    } else {
      float* xk = static_cast<float*>(ctx.workspace(size_t(N * Kp) * sizeof(float)));
      deftnn::sve::copy_cols(ctx, x.data<float>(), N, F, sve.kept_device.data<int32_t>(), Kp, xk, Kp);
      a.B = xk, a.ldb = Kp;
    }
  }
  const GemmPlan plan = forward_gemm_plan(ctx);
  a.packed_a = packed_.get(ctx, plan, weight_.value, 1, 0);
  a.converted_a = packed_.converted(ctx, plan, weight_.value, 1, 0);
  a.mixed_a = packed_.mixed(ctx, plan, weight_.value, 1, 0);
  gemm(ctx, a, plan);
  if (has_bias_ || relu)
    add_row_bias(ctx, y.data<float>(), N, out_, has_bias_ ? bias_.value.data<float>() : nullptr, relu, slope);
}

void Linear::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  packed_.invalidate();  // the optimiser updates the weight in place after this
  const Shape ys = infer(x.shape());
  DEFTNN_CHECK(dy.shape() == ys, "layer '{}': output gradient is {}, expected {}", name(), shape_str(dy.shape()),
               shape_str(ys));
  DEFTNN_CHECK(!dx || dx->shape() == x.shape(), "layer '{}': input gradient is {}, expected {}", name(),
               shape_str(dx->shape()), shape_str(x.shape()));
  DEFTNN_CHECK(x.device() == ctx.device() && dy.device() == ctx.device() && weight_.value.device() == ctx.device() &&
                   weight_.grad.device() == ctx.device(),
               "layer '{}': tensors and context on different devices", name());
  const int64_t N = token_rows(x.shape()), F = in_f_, Kp = gemm_k();
  const SveState& sve = sve_on(ctx);
  const bool sub = sve.active();
  if (has_bias_) column_sums(ctx, dy.data<float>(), N, out_, bias_.grad.data<float>());
  // The kept input columns (N, K'), in weight-column order.
  const float* xk = x.data<float>();
  float* ws = sub ? static_cast<float*>(ctx.workspace(size_t(N * Kp) * sizeof(float))) : nullptr;
  if (sub) {
    deftnn::sve::copy_cols(ctx, x.data<float>(), N, F, sve.kept_device.data<int32_t>(), Kp, ws, Kp);
    xk = ws;
  }
  GemmArgs a;  // dW (out, K') = dY^T (out, N) Xk (N, K')
  a.M = out_, a.N = Kp, a.K = N;
  a.A = dy.data<float>(), a.lda = out_, a.trans_a = true;
  a.B = xk, a.ldb = sub ? Kp : F;
  a.C = weight_.grad.data<float>(), a.ldc = Kp;
  gemm(ctx, a);
  if (!dx) return;
  GemmArgs b;  // dXk (N, K') = dY (N, out) W (out, K')
  b.M = N, b.N = Kp, b.K = out_;
  b.A = dy.data<float>(), b.lda = out_;
  b.B = weight_.value.data<float>(), b.ldb = Kp;
  b.C = sub ? ws : dx->data<float>(), b.ldc = Kp;
  gemm(ctx, b);  // ws no longer holds Xk: dW is queued before it on the same stream
  if (!sub) return;
  dx->zero_(ctx);
  scatter_cols(ctx, ws, N, Kp, sve.kept_device.data<int32_t>(), dx->data<float>(), F);
}

nlohmann::json Linear::config() const {
  nlohmann::json j = {{"type", "linear"},       {"name", name()},           {"out", out_},
                      {"bias", has_bias_},      {"weight_filler", filler_}, {"bias_value", bias_value_}};
  if (sve().active()) j["sve"] = sve_to_json(sve());
  return j;
}

std::unique_ptr<Layer> make_linear(const nlohmann::json& spec) { return std::make_unique<Linear>(spec); }

}  // namespace deftnn
