#include "layers/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "layers/kernels/attention_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

namespace {

struct Dims {
  int64_t n, t, heads, d;
  int64_t hd() const { return heads * d; }
};

// P (t x t, row i = query i) of sequence s, head h:
// softmax_j(q_i . k_j * scale + (1 - mask_j) lowest).
template <class T>
void probabilities(const Dims& a, const T* q, const T* k, const T* mask, int64_t s, int64_t h, T scale,
                   std::vector<T>& p) {
  const int64_t hd = a.hd();
  const T lowest = std::numeric_limits<T>::lowest();
  const T* m = mask + s * a.t;
  const T* qs = q + s * a.t * hd + h * a.d;
  const T* ks = k + s * a.t * hd + h * a.d;
  for (int64_t i = 0; i < a.t; ++i) {
    T* row = p.data() + i * a.t;
    T mx = lowest;
    for (int64_t j = 0; j < a.t; ++j) {
      T dot = 0;
      for (int64_t e = 0; e < a.d; ++e) dot += qs[i * hd + e] * ks[j * hd + e];
      row[j] = dot * scale + (T(1) - m[j]) * lowest;
      mx = std::max(mx, row[j]);
    }
    T sum = 0;
    for (int64_t j = 0; j < a.t; ++j) sum += row[j] = std::exp(row[j] - mx);
    const T inv = T(1) / sum;
    for (int64_t j = 0; j < a.t; ++j) row[j] *= inv;
  }
}

template <class T>
void forward_cpu(const Dims& a, const T* q, const T* k, const T* v, const T* mask, T* out) {
  const int64_t hd = a.hd();
  const T scale = T(1) / std::sqrt(T(a.d));
  std::vector<T> p(size_t(a.t * a.t));
  for (int64_t s = 0; s < a.n; ++s)
    for (int64_t h = 0; h < a.heads; ++h) {
      probabilities(a, q, k, mask, s, h, scale, p);
      const T* vs = v + s * a.t * hd + h * a.d;
      T* os = out + s * a.t * hd + h * a.d;
      for (int64_t i = 0; i < a.t; ++i) {
        T* o = os + i * hd;
        for (int64_t e = 0; e < a.d; ++e) o[e] = 0;
        for (int64_t j = 0; j < a.t; ++j) {
          const T pij = p[size_t(i * a.t + j)];
          for (int64_t e = 0; e < a.d; ++e) o[e] += pij * vs[j * hd + e];
        }
      }
    }
}

// dv = P^T dout, dS = P (dP - rowsum(P dP)) with dP = dout v^T,
// dq = scale dS k, dk = scale dS^T q; null outputs are skipped.
template <class T>
void backward_cpu(const Dims& a, const T* q, const T* k, const T* v, const T* mask, const T* dout, T* dq, T* dk,
                  T* dv) {
  const int64_t hd = a.hd();
  const T scale = T(1) / std::sqrt(T(a.d));
  std::vector<T> p(size_t(a.t * a.t)), ds(size_t(a.t));
  for (int64_t s = 0; s < a.n; ++s)
    for (int64_t h = 0; h < a.heads; ++h) {
      probabilities(a, q, k, mask, s, h, scale, p);
      const int64_t base = s * a.t * hd + h * a.d;
      const T *qs = q + base, *ks = k + base, *vs = v + base, *gs = dout + base;
      for (T* g : {dk, dv})
        if (g)
          for (int64_t j = 0; j < a.t; ++j)
            for (int64_t e = 0; e < a.d; ++e) g[base + j * hd + e] = 0;
      for (int64_t i = 0; i < a.t; ++i) {
        const T* pr = p.data() + i * a.t;
        const T* gi = gs + i * hd;
        if (dv)
          for (int64_t j = 0; j < a.t; ++j)
            for (int64_t e = 0; e < a.d; ++e) dv[base + j * hd + e] += pr[j] * gi[e];
        if (!dq && !dk) continue;
        T dot = 0;
        for (int64_t j = 0; j < a.t; ++j) {
          T g = 0;
          for (int64_t e = 0; e < a.d; ++e) g += gi[e] * vs[j * hd + e];
          ds[size_t(j)] = g;
          dot += pr[j] * g;
        }
        for (int64_t j = 0; j < a.t; ++j) ds[size_t(j)] = pr[j] * (ds[size_t(j)] - dot) * scale;
        if (dq) {
          T* o = dq + base + i * hd;
          for (int64_t e = 0; e < a.d; ++e) o[e] = 0;
          for (int64_t j = 0; j < a.t; ++j)
            for (int64_t e = 0; e < a.d; ++e) o[e] += ds[size_t(j)] * ks[j * hd + e];
        }
        if (dk)
          for (int64_t j = 0; j < a.t; ++j)
            for (int64_t e = 0; e < a.d; ++e) dk[base + j * hd + e] += ds[size_t(j)] * qs[i * hd + e];
      }
    }
}

}  // namespace

std::vector<Shape> AttentionLayer::infer_multi(const std::vector<Shape>& in) {
  DEFTNN_CHECK(in.size() == 4, "{}: takes q, k, v (N, T, H*D) and mask (N, T), got {} inputs", layer_label(*this),
               in.size());
  DEFTNN_CHECK(in[0].size() == 3, "{}: q must be (N, T, H*D), got {}", layer_label(*this), shape_str(in[0]));
  DEFTNN_CHECK(in[0][2] % heads_ == 0 && in[0][2] > 0, "{}: width {} of q {} is not a multiple of heads {}",
               layer_label(*this), in[0][2], shape_str(in[0]), heads_);
  DEFTNN_CHECK(in[1] == in[0] && in[2] == in[0], "{}: k {} and v {} must have q's shape {}", layer_label(*this),
               shape_str(in[1]), shape_str(in[2]), shape_str(in[0]));
  DEFTNN_CHECK(in[3] == Shape({in[0][0], in[0][1]}), "{}: mask must be (N, T) = ({}, {}) for q {}, got {}",
               layer_label(*this), in[0][0], in[0][1], shape_str(in[0]), shape_str(in[3]));
  return {in[0]};
}

void AttentionLayer::forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                                   bool) {
  DEFTNN_CHECK(x.size() == 4 && y.size() == 1 && x[0] && x[1] && x[2] && x[3],
               "{}: takes 4 inputs and one output, got {} and {}", layer_label(*this), x.size(), y.size());
  const Shape out = infer_multi({x[0]->shape(), x[1]->shape(), x[2]->shape(), x[3]->shape()})[0];
  const DType dt = x[0]->dtype();
  check_multi_args(*this, ctx, x, {out, out, out, x[3]->shape()}, dt, "input");
  check_multi_args(*this, ctx, read_only(y), {out}, dt, "output");
  const Dims a{out[0], out[1], heads_, out[2] / heads_};
  if (ctx.is_cuda()) {
    const kernels::AttentionDims ad{a.n, a.t, a.heads, a.d, float(1.0 / std::sqrt(double(a.d)))};
    void* scratch = ctx.workspace(kernels::attention_scratch_bytes(ad, false));
    kernels::attention_forward(ctx.cublas(), ctx.stream(), ad, x[0]->data<float>(), x[1]->data<float>(),
                               x[2]->data<float>(), x[3]->data<float>(), y[0]->data<float>(), scratch);
    return;
  }
  dispatch_float(*this, dt, [&](auto tag) {
    using T = decltype(tag);
    forward_cpu<T>(a, x[0]->data<T>(), x[1]->data<T>(), x[2]->data<T>(), x[3]->data<T>(), y[0]->data<T>());
  });
}

void AttentionLayer::backward_multi(Context& ctx, const std::vector<const Tensor*>& x,
                                    const std::vector<const Tensor*>& y, const std::vector<const Tensor*>& dy,
                                    const std::vector<Tensor*>& dx) {
  DEFTNN_CHECK(x.size() == 4 && x[0] && x[1] && x[2] && x[3] && dy.size() == 1 && dy[0] && dx.size() == 4,
               "{}: backward takes 4 inputs, one output gradient and 4 input gradients, got {}, {} and {}",
               layer_label(*this), x.size(), dy.size(), dx.size());
  const Shape out = infer_multi({x[0]->shape(), x[1]->shape(), x[2]->shape(), x[3]->shape()})[0];
  const DType dt = x[0]->dtype();
  check_multi_args(*this, ctx, x, {out, out, out, x[3]->shape()}, dt, "input");
  check_multi_args(*this, ctx, dy, {out}, dt, "output gradient");
  check_multi_args(*this, ctx, read_only(dx), {out, out, out, x[3]->shape()}, dt, "input gradient", true);
  if (dx[3]) dx[3]->zero_(ctx);
  if (!dx[0] && !dx[1] && !dx[2]) return;
  const Dims a{out[0], out[1], heads_, out[2] / heads_};
  if (ctx.is_cuda()) {
    auto ptr = [](Tensor* t) { return t ? t->data<float>() : nullptr; };
    const kernels::AttentionDims ad{a.n, a.t, a.heads, a.d, float(1.0 / std::sqrt(double(a.d)))};
    void* scratch = ctx.workspace(kernels::attention_scratch_bytes(ad, true));
    kernels::attention_backward(ctx.cublas(), ctx.stream(), ad, x[0]->data<float>(), x[1]->data<float>(),
                                x[2]->data<float>(), x[3]->data<float>(), dy[0]->data<float>(), ptr(dx[0]),
                                ptr(dx[1]), ptr(dx[2]), scratch);
    return;
  }
  dispatch_float(*this, dt, [&](auto tag) {
    using T = decltype(tag);
    auto ptr = [](Tensor* t) { return t ? t->data<T>() : nullptr; };
    backward_cpu<T>(a, x[0]->data<T>(), x[1]->data<T>(), x[2]->data<T>(), x[3]->data<T>(), dy[0]->data<T>(),
                    ptr(dx[0]), ptr(dx[1]), ptr(dx[2]));
  });
}

nlohmann::json AttentionLayer::config() const {
  nlohmann::json j = base_config(*this);
  j["heads"] = heads_;
  return j;
}

int64_t AttentionLayer::flops(const Shape& in) const {
  // Two products per head of t x t x d multiply-adds: q k^T and P v.
  return in.size() == 3 ? 4 * in[0] * in[1] * in[1] * in[2] : 0;
}

std::unique_ptr<Layer> make_attention(const nlohmann::json& spec) {
  SpecReader r(spec);
  const int64_t heads = r.integer("heads", std::nullopt, 1, kMaxLayerDim);
  r.finish();
  return std::make_unique<AttentionLayer>(r.name(), heads);
}

}  // namespace deftnn
