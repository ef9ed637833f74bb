#include "layers/pool.h"

#include <cmath>
#include <limits>

#include "layers/kernels/pool_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceil) {
  int64_t span = in + 2 * pad - kernel;  // >= 0 for a valid configuration
  // FLOOR (ONNX's and PyTorch's default): every window starts inside the padded input.
  if (!ceil) return span / stride + 1;
  int64_t out = (span + stride - 1) / stride + 1;  // ceil(span / stride) + 1
  if (pad > 0 && (out - 1) * stride >= in + pad) --out;
  return out;
}

PoolLayer::PoolLayer(std::string name, PoolMode mode, int64_t kernel, int64_t stride, int64_t pad, bool ceil)
    : Layer(std::move(name)), mode_(mode), kernel_(kernel), stride_(stride), pad_(pad), ceil_(ceil) {
  DEFTNN_CHECK(kernel >= 1 && stride >= 1 && pad >= 0, "{}: kernel {}, stride {}, pad {}", layer_label(*this), kernel,
               stride, pad);
  DEFTNN_CHECK(pad < kernel, "{}: pad {} must be smaller than the kernel {}", layer_label(*this), pad, kernel);
}

Shape PoolLayer::output_shape(const Shape& in) const {
  Dims4 d = require_nchw(*this, in);
  DEFTNN_CHECK(d.h + 2 * pad_ >= kernel_ && d.w + 2 * pad_ >= kernel_,
               "{}: kernel {} larger than the padded input {}x{} (pad {}) of input {}", layer_label(*this), kernel_,
               d.h + 2 * pad_, d.w + 2 * pad_, pad_, shape_str(in));
  int64_t ph = pool_output_size(d.h, kernel_, stride_, pad_, ceil_),
          pw = pool_output_size(d.w, kernel_, stride_, pad_, ceil_);
  // Without padding the CEIL rule can place a last window wholly beyond the
  // input (stride > kernel); Caffe would produce garbage there, so refuse.
  DEFTNN_CHECK((ph - 1) * stride_ - pad_ < d.h && (pw - 1) * stride_ - pad_ < d.w,
               "{}: with stride {} > kernel {} the last window of input {} starts outside it", layer_label(*this),
               stride_, kernel_, shape_str(in));
  return {d.n, d.c, ph, pw};
}

namespace {

kernels::PoolDims pool_dims(const Shape& in, const Shape& out, int64_t k, int64_t s, int64_t p) {
  return {int(in[0]), int(in[1]), int(in[2]), int(in[3]), int(out[2]), int(out[3]), int(k), int(s), int(p)};
}

// CPU loops, one (n, c) plane at a time; the same arithmetic as the kernels.
// io maps planes between layouts (kernels::PoolInferIO: plane (n, c) is
// n * C + c in NCHW, c * N + n in CNHW) and, max only, applies a producer's
// pending bias + ReLU after the max; the default is NCHW in and out.
struct Planes {
  const kernels::PoolDims& d;
  const kernels::PoolInferIO& io;
  // The (n, c) of output plane `plane`, and that plane's index in the input.
  int64_t channel(int64_t plane) const { return io.out_cnhw ? plane / d.n : plane % d.c; }
  int64_t input(int64_t plane) const {
    const int64_t n = io.out_cnhw ? plane % d.n : plane / d.c, c = channel(plane);
    return io.in_cnhw ? c * d.n + n : n * d.c + c;
  }
};

template <class T>
void max_forward_cpu(const kernels::PoolDims& d, const T* x, T* y, int32_t* mask, const kernels::PoolInferIO& io = {}) {
  const Planes planes{d, io};
  for (int64_t nc = 0; nc < int64_t(d.n) * d.c; ++nc) {
    const T* plane = x + planes.input(nc) * d.h * d.w;
    const T b = io.bias ? T(io.bias[planes.channel(nc)]) : T(0);
    for (int ph = 0; ph < d.ph; ++ph)
      for (int pw = 0; pw < d.pw; ++pw) {
        int hs = ph * d.stride - d.pad, ws = pw * d.stride - d.pad;
        int he = std::min(hs + d.kernel, d.h), we = std::min(ws + d.kernel, d.w);
        hs = std::max(hs, 0), ws = std::max(ws, 0);
        T best = std::numeric_limits<T>::lowest();
        int arg = -1;
        for (int h = hs; h < he; ++h)
          for (int w = ws; w < we; ++w)
            if (plane[h * d.w + w] > best) best = plane[h * d.w + w], arg = h * d.w + w;
        if (io.bias || io.relu) {
          best += b;
          if (io.relu && !(best > T(0))) best *= T(io.slope);
        }
        int64_t o = (nc * d.ph + ph) * d.pw + pw;
        y[o] = best;
        if (mask) mask[o] = arg;
      }
  }
}

template <class T>
void max_backward_cpu(const kernels::PoolDims& d, const T* dy, const int32_t* mask, T* dx) {
  std::fill(dx, dx + int64_t(d.n) * d.c * d.h * d.w, T(0));
  for (int64_t nc = 0; nc < int64_t(d.n) * d.c; ++nc)
    for (int64_t o = 0; o < int64_t(d.ph) * d.pw; ++o) {
      int32_t a = mask[nc * d.ph * d.pw + o];
      if (a >= 0) dx[nc * d.h * d.w + a] += dy[nc * d.ph * d.pw + o];
    }
}

// Caffe's average window: clipped to the padded input for the divisor, to the input for the sum.
struct AvgWindow {
  int hs, he, ws, we, size;
};
inline AvgWindow avg_window(const kernels::PoolDims& d, int ph, int pw) {
  int hs = ph * d.stride - d.pad, ws = pw * d.stride - d.pad;
  int he = std::min(hs + d.kernel, d.h + d.pad), we = std::min(ws + d.kernel, d.w + d.pad);
  int size = (he - hs) * (we - ws);
  return {std::max(hs, 0), std::min(he, d.h), std::max(ws, 0), std::min(we, d.w), size};
}

template <class T>
void avg_forward_cpu(const kernels::PoolDims& d, const T* x, T* y, const kernels::PoolInferIO& io = {}) {
  const Planes planes{d, io};
  for (int64_t nc = 0; nc < int64_t(d.n) * d.c; ++nc) {
    const T* plane = x + planes.input(nc) * d.h * d.w;
    for (int ph = 0; ph < d.ph; ++ph)
      for (int pw = 0; pw < d.pw; ++pw) {
        AvgWindow a = avg_window(d, ph, pw);
        T sum = 0;
        for (int h = a.hs; h < a.he; ++h)
          for (int w = a.ws; w < a.we; ++w) sum += plane[h * d.w + w];
        y[(nc * d.ph + ph) * d.pw + pw] = sum / T(a.size);
      }
  }
}

template <class T>
void avg_backward_cpu(const kernels::PoolDims& d, const T* dy, T* dx) {
  std::fill(dx, dx + int64_t(d.n) * d.c * d.h * d.w, T(0));
  for (int64_t nc = 0; nc < int64_t(d.n) * d.c; ++nc) {
    T* plane = dx + nc * d.h * d.w;
    for (int ph = 0; ph < d.ph; ++ph)
      for (int pw = 0; pw < d.pw; ++pw) {
        AvgWindow a = avg_window(d, ph, pw);
        T g = dy[(nc * d.ph + ph) * d.pw + pw] / T(a.size);
        for (int h = a.hs; h < a.he; ++h)
          for (int w = a.ws; w < a.we; ++w) plane[h * d.w + w] += g;
      }
  }
}

}  // namespace

void PoolLayer::run_forward(Context& ctx, const Tensor& x, Tensor& y, bool write_mask, const kernels::PoolInferIO& io) {
  kernels::PoolDims d = pool_dims(x.shape(), y.shape(), kernel_, stride_, pad_);
  int32_t* mask = nullptr;
  if (write_mask) {
    DEFTNN_CHECK(mode_ == PoolMode::Max && !io.in_cnhw && !io.out_cnhw && !io.bias && !io.relu,
                 "layer '{}': the argmax mask is written by plain NCHW max pooling only", name());
    ensure_tensor(mask_, y.shape(), DType::I32, ctx);
    mask = mask_.data<int32_t>();
  }
  if (ctx.is_cuda()) {
    if (mask)
      kernels::max_pool_forward(ctx.stream(), d, x.data<float>(), y.data<float>(), mask);
    else
      kernels::pool_forward_inference(ctx.stream(), d, io, x.data<float>(), y.data<float>());
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    if (mode_ == PoolMode::Max)
      max_forward_cpu(d, x.data<T>(), y.data<T>(), mask, io);
    else
      avg_forward_cpu(d, x.data<T>(), y.data<T>(), io);
  });
}

void PoolLayer::forward(Context& ctx, const Tensor& x, Tensor& y, bool train) {
  check_forward_args(*this, ctx, x, y, output_shape(x.shape()));
  // Inference skips the argmax mask (a quarter of the traffic); a backward
  // after it recomputes the mask.
  bool write_mask = mode_ == PoolMode::Max && train;
  run_forward(ctx, x, y, write_mask, infer_io(InferArgs{}));
  mask_valid_ = write_mask;
}

void PoolLayer::forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& a) {
  DEFTNN_CHECK(!a.relu && !a.defer, "layer '{}' ({}): no fused ReLU or deferred epilogue", name(), type());
  DEFTNN_CHECK(!a.pending.active() || can_absorb_pending(a.pending.relu ? a.pending.slope : 0.f),
               "layer '{}' ({}): cannot apply a pending bias/ReLU", name(), type());
  check_forward_args(*this, ctx, x, y, output_shape(x.shape()));
  run_forward(ctx, x, y, false, infer_io(a));
  mask_valid_ = false;
}

kernels::PoolInferIO PoolLayer::infer_io(const InferArgs& a) const {
  kernels::PoolInferIO io;
  io.max = mode_ == PoolMode::Max;
  io.in_cnhw = a.in == Layout::CNHW, io.out_cnhw = a.out == Layout::CNHW;
  io.bias = a.pending.bias, io.relu = a.pending.relu, io.slope = a.pending.slope;
  return io;
}

void PoolLayer::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  check_backward_args(*this, ctx, x, y, dy, dx);
  if (!dx) return;
  kernels::PoolDims d = pool_dims(x.shape(), y.shape(), kernel_, stride_, pad_);
  if (mode_ == PoolMode::Max &&
      !(mask_valid_ && mask_.shape() == y.shape() && mask_.device() == ctx.device())) {
    Tensor scratch = Tensor::empty(y.shape(), y.dtype(), ctx.device());
    run_forward(ctx, x, scratch, true, infer_io(InferArgs{}));
    mask_valid_ = true;
  }
  if (ctx.is_cuda()) {
    if (mode_ == PoolMode::Max)
      kernels::max_pool_backward(ctx.stream(), d, dy.data<float>(), mask_.data<int32_t>(), dx->data<float>());
    else
      kernels::avg_pool_backward(ctx.stream(), d, dy.data<float>(), dx->data<float>());
    return;
  }
  dispatch_float(*this, x.dtype(), [&](auto t) {
    using T = decltype(t);
    if (mode_ == PoolMode::Max)
      max_backward_cpu(d, dy.data<T>(), mask_.data<int32_t>(), dx->data<T>());
    else
      avg_backward_cpu(d, dy.data<T>(), dx->data<T>());
  });
}

nlohmann::json PoolLayer::config() const {
  auto j = base_config(*this);
  j["kernel"] = kernel_;
  j["stride"] = stride_;
  j["pad"] = pad_;
  if (!ceil_) j["ceil"] = false;  // written only when not Caffe's default, so older graphs round-trip unchanged
  return j;
}

namespace {
std::unique_ptr<Layer> make_pool(const nlohmann::json& spec, PoolMode mode) {
  SpecReader r(spec);
  int64_t kernel = r.integer("kernel", std::nullopt, 1, kMaxLayerDim);
  int64_t stride = r.integer("stride", 1, 1, kMaxLayerDim);
  int64_t pad = r.integer("pad", 0, 0, kMaxLayerDim);
  bool ceil = r.boolean("ceil", true);
  r.finish();
  if (pad >= kernel) r.fail("pad", fmt::format("({}) must be smaller than the kernel ({})", pad, kernel));
  return std::make_unique<PoolLayer>(r.name(), mode, kernel, stride, pad, ceil);
}
}  // namespace

std::unique_ptr<Layer> make_maxpool(const nlohmann::json& spec) { return make_pool(spec, PoolMode::Max); }
std::unique_ptr<Layer> make_avgpool(const nlohmann::json& spec) { return make_pool(spec, PoolMode::Avg); }

}  // namespace deftnn
