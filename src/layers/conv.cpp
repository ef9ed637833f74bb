#include "layers/conv.h"

#include <algorithm>

#include "core/env.h"
#include "layers/filler.h"
#include "layers/gemm_layer_kernels.h"
#include "layers/layer_util.h"
#include "synapse/sve_apply.h"
#include "synapse/input_transform.h"

namespace deftnn {

namespace {

nlohmann::json pair_json(int64_t h, int64_t w) {
  if (h == w) return h;
  return nlohmann::json::array({h, w});
}

}  // namespace

Conv2d::Conv2d(const nlohmann::json& spec) : GemmLayer(SpecReader(spec).name()) {
  const std::string& nm = name();
  SpecReader r(spec);
  out_ = r.integer("out", std::nullopt, 1, kMaxLayerDim);
  std::tie(kh_, kw_) = r.int_pair("kernel", std::nullopt, 1, kMaxLayerDim);
  std::tie(sh_, sw_) = r.int_pair("stride", 1, 1, kMaxLayerDim);
  std::tie(ph_, pw_) = r.int_pair("pad", 0, 0, kMaxLayerDim);
  groups_ = r.integer("groups", 1, 1, kMaxLayerDim);
  has_bias_ = r.boolean("bias", true);
  bias_value_ = float(r.number("bias_value", 0.0, -1e30, 1e30));
  const nlohmann::json* filler = r.object("weight_filler");
  filler_ = filler ? *filler : nlohmann::json{{"type", "xavier"}};
  const nlohmann::json* sve = r.object("sve");
  r.finish();
  DEFTNN_CHECK(out_ % groups_ == 0, "layer '{}': out = {} is not divisible by groups = {}", nm, out_, groups_);
  check_filler(filler_, nm);
  if (sve) set_sve_from_config(read_sve_entry(r, *sve));
  weight_.name = "weight";
  bias_.name = "bias";
}

ConvGeom Conv2d::geom(const Shape& in) const {
  ConvGeom g;
  g.C = in[1] / groups_, g.H = in[2], g.W = in[3];
  g.kh = kh_, g.kw = kw_, g.sh = sh_, g.sw = sw_, g.ph = ph_, g.pw = pw_;
  return g;
}

void Conv2d::check_input(const Shape& in) const {
  DEFTNN_CHECK(in.size() == 4, "layer '{}': conv takes (N, C, H, W), got {}", name(), shape_str(in));
  DEFTNN_CHECK(in[1] > 0 && in[1] % groups_ == 0, "layer '{}': {} input channels are not divisible by groups = {}",
               name(), in[1], groups_);
  DEFTNN_CHECK(in_c_ == 0 || in[1] == in_c_, "layer '{}': expects {} input channels, got input {}", name(), in_c_,
               shape_str(in));
  DEFTNN_CHECK(in[2] + 2 * ph_ >= kh_ && in[3] + 2 * pw_ >= kw_,
               "layer '{}': kernel {}x{} is larger than the padded input {}x{} (input {}, pad {}x{})", name(), kh_, kw_,
               in[2] + 2 * ph_, in[3] + 2 * pw_, shape_str(in), ph_, pw_);
}

Shape Conv2d::infer(const Shape& in) {
  check_input(in);
  if (in_c_ == 0) {
    in_c_ = in[1];
    const int64_t K = full_k();
    if (sve().active()) check_sve(sve(), K, name());
    const Shape ws = sve().active() ? Shape{out_, gemm_k()} : Shape{out_, in_c_ / groups_, kh_, kw_};
    if (!weight_.value.defined()) {
      weight_.value = Tensor::empty(ws);
      weight_.grad = Tensor::empty(ws);
      if (has_bias_) {
        bias_.value = Tensor::empty({out_});
        bias_.grad = Tensor::empty({out_});
        bias_.decay_mult = 0.f;  // Caffe's usual bias setting: no weight decay
        bias_.lr_mult = 2.f;
      }
    }
  }
  const ConvGeom g = geom(in);
  return {in[0], out_, g.Ho(), g.Wo()};
}

void Conv2d::init_params(Rng& rng) {
  DEFTNN_CHECK(weight_.value.defined(), "layer '{}': init_params before infer", name());
  fill_weight(weight_.value, filler_, full_k(), rng, name());
  if (has_bias_) {
    DEFTNN_CHECK(!bias_.value.is_cuda(), "layer '{}': init_params before moving the parameters to the GPU", name());
    std::fill_n(bias_.value.data<float>(), out_, bias_value_);
  }
}

std::vector<Param*> Conv2d::params() {
  if (!weight_.value.defined()) return {};
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

GemmShape Conv2d::gemm_shape(const Shape& in) const {
  const ConvGeom g = geom(in);
  GemmShape s;
  s.M = out_ / groups_;
  s.N = in[0] * g.Ho() * g.Wo();
  s.K = sve().active() ? gemm_k() : g.K();
  s.groups = groups_;
  return s;
}

int64_t Conv2d::max_column_bytes() {
  // In MiB; 1 TiB at most, so that the shift cannot overflow.
  static const int64_t bytes = [] {
    const int64_t mb = env_int("DEFTNN_CONV_CHUNK_MB", 0, 1, int64_t(1) << 20);
    return mb == 0 ? kMaxColumnBytes : mb << 20;
  }();
  return bytes;
}

int64_t Conv2d::chunk_images(const Context& ctx, int64_t N, int64_t bytes_per_image) const {
  if (chunk_images_override > 0) return std::min(chunk_images_override, std::max<int64_t>(N, 1));
  if (!ctx.is_cuda()) return 1;  // CPU: per-image GEMMs, written straight into y
  return std::clamp<int64_t>(max_column_bytes() / std::max<int64_t>(bytes_per_image, 1), 1, std::max<int64_t>(N, 1));
}

// col (K or K' rows, nb * Ho * Wo columns, tight) for one group of nb images.
// With swap_allowed and the Swap transform: the full matrix with the swap
// pairs applied (its leading K' rows are the kept ones). With swap_allowed and
// the Copy transform: the kept rows, gathered from a full im2col written
// after them (col must hold K' + K rows). Otherwise the kept rows only
// (Fused: im2col writes just those).
void Conv2d::build_columns(Context& ctx, const float* x, const ConvGeom& g, int64_t nb, int64_t image_stride, float* col,
                           bool swap_allowed, const PendingAct* act) {
  const int64_t ncols = nb * g.Ho() * g.Wo();
  const SveState& sve = sve_on(ctx);
  if (!sve.active()) return im2col(ctx, x, g, nb, image_stride, col, ncols, nullptr, 0, act);
  // SVE Copy transform (Figure 6's "copy"): full im2col, then gather the kept rows.
  if (swap_allowed && sve.transform == SveTransform::Copy) {
    const int64_t Kp = int64_t(sve.kept.size());
    float* full = col + Kp * ncols;  // (K, ncols)
    im2col(ctx, x, g, nb, image_stride, full, ncols, nullptr, 0, act);
    deftnn::sve::copy_rows(ctx, full, ncols, ncols, sve.kept_device.data<int32_t>(), Kp, col, ncols);
    return;
  }
  if (swap_allowed && sve.transform == SveTransform::Swap) {
    im2col(ctx, x, g, nb, image_stride, col, ncols, nullptr, 0, act);
    if (!sve.swaps.empty())
      deftnn::sve::swap_rows(ctx, col, ncols, ncols, sve.swaps_device.data<int32_t>(), int64_t(sve.swaps.size()));
    return;
  }
  im2col(ctx, x, g, nb, image_stride, col, ncols, sve.kept_device.data<int32_t>(), int64_t(sve.kept.size()), act);
}

void Conv2d::forward(Context& ctx, const Tensor& x, Tensor& y, bool train) { forward_impl(ctx, x, y, InferArgs{}); }

void Conv2d::forward_fused_relu(Context& ctx, const Tensor& x, Tensor& y, float slope) {
  DEFTNN_CHECK(!cudnn() || cudnn16(), "layer '{}': the fp32 cuDNN forward cannot fuse a ReLU", name());
  InferArgs a;
  a.relu = true, a.slope = slope;
  forward_impl(ctx, x, y, a);
}

void Conv2d::forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& args) {
  InferArgs relu_only = args;  // what the 16-bit cuDNN forward can fuse: a ReLU
  relu_only.relu = false;
  DEFTNN_CHECK(!cudnn() || args.plain() || (cudnn16() && relu_only.plain()),
               "layer '{}': the cuDNN forward runs NCHW only, with no fused epilogue (bf16/fp16: a ReLU)", name());
  forward_impl(ctx, x, y, args);
}

// Layouts (see infer_args.h): with x CNHW, image n's channel c of group gi
// starts at x + ((gi * Cg + c) * N + n) * H * W, so im2col gets image stride
// H * W and channel stride N * H * W. With y CNHW, group gi's GEMM output rows
// are y's channel rows, and a chunk of images [n0, n0 + nb) is a column range
// of them: the GEMM writes there directly (ldc = N * Ho * Wo).
void Conv2d::forward_impl(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& args) {
  check_input(x.shape());
  const Shape ys = infer(x.shape());
  DEFTNN_CHECK(y.shape() == ys, "layer '{}': output is {}, expected {}", name(), shape_str(y.shape()), shape_str(ys));
  DEFTNN_CHECK(x.device() == ctx.device() && y.device() == ctx.device() && weight_.value.device() == ctx.device(),
               "layer '{}': input on {}, output on {}, weight on {}, context on {}", name(), device_name(x.device()),
               device_name(y.device()), device_name(weight_.value.device()), device_name(ctx.device()));
  if (cudnn()) return forward_cudnn(ctx, x, y, args.relu, args.slope);

  ConvGeom g = geom(x.shape());
  const int64_t N = x.dim(0), C = in_c_, HWin = g.H * g.W, HW = g.Ho() * g.Wo();
  const int64_t M = out_ / groups_, Kp = gemm_k();
  const bool in_cnhw = args.in == Layout::CNHW, out_cnhw = args.out == Layout::CNHW;
  if (in_cnhw) g.cs = N * HWin;
  const int64_t image_stride = in_cnhw ? HWin : C * HWin;
  const int64_t group_stride = g.C * g.chan_stride();  // input offset of group gi: gi * group_stride
  const bool swap = sve().active() && sve().transform == SveTransform::Swap;
  const bool copy = sve().active() && sve().transform == SveTransform::Copy;  // SVE Copy: K' gathered + K full rows
  const int64_t col_rows = swap ? g.K() : copy ? Kp + g.K() : Kp;
  const GemmPlan plan = forward_gemm_plan(ctx);
  // cuBLASLt in bf16/fp16: the input goes straight into the GEMM's operand,
  // (pixels, K' padded) in 16 bits (im2row_lowp), with no fp32 column matrix
  // and no conversion pass over it (on CaffeNet b128 those two took 2.2 of
  // 3.4 ms on the H100). SVE's Fused transform reads its kept rows there too.
  const bool lowp_rows = ctx.is_cuda() && plan.backend == GemmBackend::CublasLt &&
                         (plan.precision == Precision::BF16 || plan.precision == Precision::FP16) && !swap && !copy;
  const int64_t nb = chunk_images(ctx, N, (col_rows + (out_cnhw ? 0 : out_)) * HW * int64_t(sizeof(float)));
  const int64_t lowp_ld = lowp_round_up(Kp);  // row stride of the 16-bit operand
  const int64_t col_elems = lowp_rows ? (lowp_round_up(nb * HW) * lowp_ld / 2 + 3) / 4 * 4  // floats holding it
                                      : col_rows * nb * HW;
  const int64_t out_elems = (nb > 1 && !out_cnhw) ? out_ * nb * HW : 0;
  float* col = static_cast<float*>(ctx.workspace(size_t(col_elems + out_elems) * sizeof(float)));
  float* obuf = col + col_elems;
  const float* xp = x.data<float>();
  const float* wp = weight_.value.data<float>();
  const float* bp = has_bias_ && !args.defer ? bias_.value.data<float>() : nullptr;
  const bool relu = args.relu && !args.defer;
  float* yp = y.data<float>();

  for (int64_t n0 = 0; n0 < N; n0 += nb) {
    const int64_t nbc = std::min(nb, N - n0), ncols = nbc * HW;
    float* ychunk = yp + n0 * out_ * HW;
    // dst (out, ldd): the GEMM output of this chunk
    float* dst = out_cnhw ? yp + n0 * HW : (nbc == 1 ? ychunk : obuf);
    const int64_t ldd = out_cnhw ? N * HW : ncols;
    for (int64_t gi = 0; gi < groups_; ++gi) {
      PendingAct act = args.pending;
      if (act.bias) act.bias += gi * g.C;
      const float* xg = xp + n0 * image_stride + gi * group_stride;
      GemmArgs a;
      a.M = M, a.N = ncols, a.K = Kp;
      a.A = wp + gi * M * Kp, a.lda = Kp;
      if (lowp_rows) {
        const SveState& sv = sve_on(ctx);
        im2row_lowp(ctx, xg, g, nbc, image_stride, plan.precision, col, lowp_ld, lowp_round_up(ncols),
                    sv.active() ? sv.kept_device.data<int32_t>() : nullptr, sv.active() ? int64_t(sv.kept.size()) : 0,
                    &act);
        a.lowp_b = col;
      } else {
        build_columns(ctx, xg, g, nbc, image_stride, col, true, &act);
        a.B = col, a.ldb = ncols;
      }
      a.C = dst + gi * M * ldd, a.ldc = ldd;
      a.packed_a = packed_.get(ctx, plan, weight_.value, groups_, gi);
      a.converted_a = packed_.converted(ctx, plan, weight_.value, groups_, gi);
      gemm(ctx, a, plan);
    }
    if (!out_cnhw && (nbc > 1 || bp || relu)) bias_permute(ctx, dst, bp, nbc, out_, HW, ychunk, relu, args.slope);
  }
  if (out_cnhw && (bp || relu)) add_channel_bias(ctx, yp, out_, N * HW, bp, relu, args.slope);
}

void Conv2d::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  packed_.invalidate();  // the optimiser updates the weight in place after this
  cudnn_.reset();        // (and the 16-bit cuDNN forward's converted weight with it)
  check_input(x.shape());
  const Shape ys = infer(x.shape());
  DEFTNN_CHECK(dy.shape() == ys, "layer '{}': output gradient is {}, expected {}", name(), shape_str(dy.shape()),
               shape_str(ys));
  DEFTNN_CHECK(!dx || dx->shape() == x.shape(), "layer '{}': input gradient is {}, expected {}", name(),
               shape_str(dx->shape()), shape_str(x.shape()));
  DEFTNN_CHECK(x.device() == ctx.device() && dy.device() == ctx.device() && weight_.value.device() == ctx.device() &&
                   weight_.grad.device() == ctx.device(),
               "layer '{}': tensors and context on different devices", name());
  const ConvGeom g = geom(x.shape());
  const int64_t N = x.dim(0), C = in_c_, HWin = g.H * g.W, HW = g.Ho() * g.Wo();
  const int64_t M = out_ / groups_, Kp = gemm_k();
  if (has_bias_) channel_sums(ctx, dy.data<float>(), N, out_, HW, bias_.grad.data<float>());
  if (dx) dx->zero_(ctx);
  if (N == 0) {
    weight_.grad.zero_(ctx);
    return;
  }
  const int64_t nb = chunk_images(ctx, N, (2 * Kp + out_) * HW * int64_t(sizeof(float)));
  const int64_t col_elems = Kp * nb * HW, dyp_elems = nb > 1 ? out_ * nb * HW : 0;
  float* col = static_cast<float*>(ctx.workspace(size_t(2 * col_elems + dyp_elems) * sizeof(float)));
  float* dcol = col + col_elems;
  float* dyp_buf = dcol + col_elems;
  const float* xp = x.data<float>();
  const float* wp = weight_.value.data<float>();
  float* dwp = weight_.grad.data<float>();

  for (int64_t n0 = 0; n0 < N; n0 += nb) {
    const int64_t nbc = std::min(nb, N - n0), ncols = nbc * HW;
    const float* dychunk = dy.data<float>() + n0 * out_ * HW;
    const float* dyp = dychunk;  // (out, ncols)
    if (nbc > 1) {
      unpermute(ctx, dychunk, nbc, out_, HW, dyp_buf);
      dyp = dyp_buf;
    }
    for (int64_t gi = 0; gi < groups_; ++gi) {
      const int64_t xoff = n0 * C * HWin + gi * g.C * HWin;
      build_columns(ctx, xp + xoff, g, nbc, C * HWin, col, false);  // kept rows, in weight-column order
      const float* dyg = dyp + gi * M * ncols;
      GemmArgs a;  // dW_g (M, K') (+)= dY_g (M, ncols) col^T (ncols, K')
      a.M = M, a.N = Kp, a.K = ncols;
      a.A = dyg, a.lda = ncols;
      a.B = col, a.ldb = ncols, a.trans_b = true;
      a.C = dwp + gi * M * Kp, a.ldc = Kp;
      a.beta = n0 == 0 ? 0.f : 1.f;
      gemm(ctx, a);
      if (!dx) continue;
      GemmArgs b;  // dcol (K', ncols) = W_g^T (K', M) dY_g (M, ncols)
      b.M = Kp, b.N = ncols, b.K = M;
      b.A = wp + gi * M * Kp, b.lda = Kp, b.trans_a = true;
      b.B = dyg, b.ldb = ncols;
      b.C = dcol, b.ldc = ncols;
      gemm(ctx, b);
      const SveState& sve = sve_on(ctx);
      const int32_t* kept = sve.active() ? sve.kept_device.data<int32_t>() : nullptr;
      col2im(ctx, dcol, g, nbc, C * HWin, ncols, dx->data<float>() + xoff, kept, sve.active() ? Kp : 0);
    }
  }
}

nlohmann::json Conv2d::config() const {
  nlohmann::json j = {{"type", "conv"},
                      {"name", name()},
                      {"out", out_},
                      {"kernel", pair_json(kh_, kw_)},
                      {"stride", pair_json(sh_, sw_)},
                      {"pad", pair_json(ph_, pw_)},
                      {"groups", groups_},
                      {"bias", has_bias_},
                      {"weight_filler", filler_},
                      {"bias_value", bias_value_}};
  if (sve().active()) j["sve"] = sve_to_json(sve());
  return j;
}

std::unique_ptr<Layer> make_conv(const nlohmann::json& spec) { return std::make_unique<Conv2d>(spec); }

}  // namespace deftnn
