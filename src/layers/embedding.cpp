#include "layers/embedding.h"

#include <cmath>

#include "layers/kernels/transformer_kernels.h"
#include "layers/layer_util.h"

namespace deftnn {

namespace {
Param table(const char* name, int64_t rows, int64_t h) {
  return {name, Tensor::empty({rows, h}), Tensor::empty({rows, h})};
}

double id_value(const Tensor& ids, int64_t k) {
  if (ids.dtype() == DType::I32) return ids.data<int32_t>()[k];
  if (ids.dtype() == DType::F64) return ids.data<double>()[k];
  return ids.data<float>()[k];
}

// Row number of id k, or -1 when it is not a whole number.
int64_t id_at(const Tensor& ids, int64_t k) {
  const double v = id_value(ids, k);
  return v == std::trunc(v) && std::fabs(v) < 9.2e18 ? int64_t(v) : -1;
}

kernels::EmbeddingIds device_ids(const Tensor* ids) {
  kernels::EmbeddingIds e;
  if (!ids) return e;
  if (ids->dtype() == DType::I32) e.i32 = ids->data<int32_t>();
  else e.f32 = ids->data<float>();
  return e;
}
}  // namespace

EmbeddingLayer::EmbeddingLayer(std::string name, const EmbeddingSizes& s) : MultiTensorLayer(std::move(name)), s_(s) {
  word_ = table("word", s_.vocab, s_.hidden);
  if (s_.positions > 0) position_ = table("position", s_.positions, s_.hidden);
  if (s_.token_types > 0) type_ = table("token_type", s_.token_types, s_.hidden);
}

std::vector<Shape> EmbeddingLayer::infer_multi(const std::vector<Shape>& in) {
  DEFTNN_CHECK(in.size() == 1 || in.size() == 2, "{}: takes ids (N, T) and optionally token type ids (N, T), got {} "
               "inputs", layer_label(*this), in.size());
  DEFTNN_CHECK(in[0].size() == 2, "{}: ids must be (N, T), got {}", layer_label(*this), shape_str(in[0]));
  DEFTNN_CHECK(in.size() == 1 || s_.token_types > 0, "{}: a second input (token type ids) needs \"token_types\" > 0",
               layer_label(*this));
  DEFTNN_CHECK(in.size() == 1 || in[1] == in[0], "{}: token type ids must have the ids' shape {}, got {}",
               layer_label(*this), shape_str(in[0]), shape_str(in[1]));
  DEFTNN_CHECK(s_.positions == 0 || in[0][1] <= s_.positions, "{}: {} tokens but only {} positions",
               layer_label(*this), in[0][1], s_.positions);
  return {{in[0][0], in[0][1], s_.hidden}};
}

void EmbeddingLayer::init_params(Rng& rng) {
  for (Param* p : params()) {
    DEFTNN_CHECK(!p->value.is_cuda(), "{}: init_params before moving the parameters to the GPU", layer_label(*this));
    float* v = p->value.data<float>();
    for (int64_t i = 0; i < p->value.numel(); ++i) v[i] = float(rng.normal() * s_.std);
  }
}

std::vector<Param*> EmbeddingLayer::params() {
  std::vector<Param*> p{&word_};
  if (s_.positions > 0) p.push_back(&position_);
  if (s_.token_types > 0) p.push_back(&type_);
  return p;
}

void EmbeddingLayer::check_ids(Context& ctx, const Tensor& ids, int64_t limit, const char* what) const {
  const DType dt = ids.dtype();
  DEFTNN_CHECK(dt == DType::F32 || dt == DType::I32 || (dt == DType::F64 && !ctx.is_cuda()),
               "{}: {} are {} (F32 or I32, or F64 on the CPU)", layer_label(*this), what, dtype_name(dt));
  DEFTNN_CHECK(ids.device() == ctx.device(), "{}: {} are on {} but the context is {}", layer_label(*this), what,
               device_name(ids.device()), device_name(ctx.device()));
  if (ctx.is_cuda()) {
    void* scratch = ctx.workspace(kernels::embedding_scratch_bytes());
    const int64_t bad = kernels::embedding_bad_ids(ctx.stream(), device_ids(&ids), ids.numel(), limit, scratch);
    DEFTNN_CHECK(bad == 0, "{}: {} of the {} {} are not whole numbers in [0, {})", layer_label(*this), bad,
                 ids.numel(), what, limit);
    return;
  }
  for (int64_t k = 0; k < ids.numel(); ++k) {
    const int64_t r = id_at(ids, k);
    DEFTNN_CHECK(r >= 0 && r < limit, "{}: {} [{}] = {} is not a whole number in [0, {})", layer_label(*this), what,
                 k, id_value(ids, k), limit);
  }
}

void EmbeddingLayer::forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                                   bool) {
  DEFTNN_CHECK((x.size() == 1 || x.size() == 2) && y.size() == 1 && x[0] && (x.size() == 1 || x[1]),
               "{}: takes 1 or 2 inputs and one output, got {} and {}", layer_label(*this), x.size(), y.size());
  std::vector<Shape> in;
  for (const Tensor* t : x) in.push_back(t->shape());
  const Shape out = infer_multi(in)[0];
  const DType dt = word_.value.dtype();
  check_multi_args(*this, ctx, read_only(y), {out}, dt, "output");
  DEFTNN_CHECK(word_.value.device() == ctx.device(), "{}: tables on {} but the context is {}", layer_label(*this),
               device_name(word_.value.device()), device_name(ctx.device()));
  check_ids(ctx, *x[0], s_.vocab, "ids");
  const Tensor* types = x.size() == 2 ? x[1] : nullptr;
  if (types) check_ids(ctx, *types, s_.token_types, "token type ids");
  const int64_t n = out[0], t = out[1], h = out[2];
  if (ctx.is_cuda()) {
    kernels::embedding_forward(ctx.stream(), device_ids(x[0]), device_ids(types), word_.value.data<float>(),
                               s_.positions > 0 ? position_.value.data<float>() : nullptr,
                               s_.token_types > 0 ? type_.value.data<float>() : nullptr, y[0]->data<float>(), n, t,
                               h, s_.vocab, s_.token_types);
    return;
  }
  dispatch_float(*this, dt, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t k = 0; k < n * t; ++k) {
      const T* w = word_.value.data<T>() + id_at(*x[0], k) * h;
      const T* p = s_.positions > 0 ? position_.value.data<T>() + (k % t) * h : nullptr;
      const T* ty = s_.token_types > 0 ? type_.value.data<T>() + (types ? id_at(*types, k) : 0) * h : nullptr;
      T* yr = y[0]->data<T>() + k * h;
      for (int64_t j = 0; j < h; ++j) {
        T v = w[j];
        if (p) v += p[j];
        if (ty) v += ty[j];
        yr[j] = v;
      }
    }
  });
}

void EmbeddingLayer::backward_multi(Context& ctx, const std::vector<const Tensor*>& x,
                                    const std::vector<const Tensor*>& y, const std::vector<const Tensor*>& dy,
                                    const std::vector<Tensor*>& dx) {
  DEFTNN_CHECK((x.size() == 1 || x.size() == 2) && dy.size() == 1 && dy[0] && dx.size() == x.size(),
               "{}: backward takes {} inputs, one output gradient and as many input gradients, got {}, {} and {}",
               layer_label(*this), x.size(), x.size(), dy.size(), dx.size());
  std::vector<Shape> in;
  for (const Tensor* t : x) in.push_back(t->shape());
  const Shape out = infer_multi(in)[0];
  check_multi_args(*this, ctx, dy, {out}, word_.value.dtype(), "output gradient");
  for (Tensor* d : dx)
    if (d) d->zero_(ctx);
  const Tensor* types = x.size() == 2 ? x[1] : nullptr;
  const int64_t n = out[0], t = out[1], h = out[2];
  if (ctx.is_cuda()) {
    kernels::embedding_backward(ctx.stream(), device_ids(x[0]), device_ids(types), dy[0]->data<float>(),
                                word_.grad.data<float>(), s_.vocab,
                                s_.positions > 0 ? position_.grad.data<float>() : nullptr, s_.positions,
                                s_.token_types > 0 ? type_.grad.data<float>() : nullptr, s_.token_types, n, t, h);
    return;
  }
  for (Param* p : params()) p->grad.zero_(ctx);
  dispatch_float(*this, word_.value.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (int64_t k = 0; k < n * t; ++k) {
      const T* g = dy[0]->data<T>() + k * h;
      T* w = word_.grad.data<T>() + id_at(*x[0], k) * h;
      T* p = s_.positions > 0 ? position_.grad.data<T>() + (k % t) * h : nullptr;
      T* ty = s_.token_types > 0 ? type_.grad.data<T>() + (types ? id_at(*types, k) : 0) * h : nullptr;
      for (int64_t j = 0; j < h; ++j) {
        w[j] += g[j];
        if (p) p[j] += g[j];
        if (ty) ty[j] += g[j];
      }
    }
  });
}

nlohmann::json EmbeddingLayer::config() const {
  auto j = base_config(*this);
  j["vocab"] = s_.vocab;
  j["hidden"] = s_.hidden;
  j["positions"] = s_.positions;
  j["token_types"] = s_.token_types;
  j["std"] = s_.std;
  return j;
}

std::unique_ptr<Layer> make_embedding(const nlohmann::json& spec) {
  SpecReader r(spec);
  EmbeddingSizes s;
  s.vocab = r.integer("vocab", std::nullopt, 1);
  s.hidden = r.integer("hidden", std::nullopt, 1);
  s.positions = r.integer("positions", 0, 0);
  s.token_types = r.integer("token_types", 0, 0);
  s.std = r.number("std", 0.02, 0.0, 1e30);
  r.finish();
  return std::make_unique<EmbeddingLayer>(r.name(), s);
}

}  // namespace deftnn
