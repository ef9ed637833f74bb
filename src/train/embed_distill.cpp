#include "train/embed_distill.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "data/text_lines.h"
#include "train/progress.h"

namespace deftnn::train {

std::vector<std::string> read_text_lines(const std::string& path) {
  std::vector<std::string> lines = data::read_text_lines(path, /*skip_blank=*/true);
  DEFTNN_CHECK(!lines.empty(), "{}: no text to distil on (the file is empty or blank)", path);
  return lines;
}

template <class T>
double embedding_distance_loss(const T* s, const T* t, int64_t n, int64_t h, T* grad) {
  DEFTNN_CHECK(n >= 1 && h >= 1, "embedding_distance_loss: {} rows of {} values", n, h);
  double sum = 0;
  for (int64_t i = 0; i < n * h; ++i) {
    const double d = double(s[i]) - double(t[i]);
    sum += d * d;
    if (grad) grad[i] = T(d / double(n));
  }
  return 0.5 * sum / double(n);
}
template double embedding_distance_loss<float>(const float*, const float*, int64_t, int64_t, float*);
template double embedding_distance_loss<double>(const double*, const double*, int64_t, int64_t, double*);

CosineStats row_cosines(const Tensor& a, const Tensor& b) {
  DEFTNN_CHECK(a.shape() == b.shape() && a.ndim() == 2 && a.dim(0) >= 1 && a.dtype() == DType::F32 &&
                   b.dtype() == DType::F32 && !a.is_cuda() && !b.is_cuda(),
               "row_cosines: {} and {} (need two equal (n, h) F32 CPU tensors, n >= 1)", shape_str(a.shape()),
               shape_str(b.shape()));
  const int64_t n = a.dim(0), h = a.dim(1);
  CosineStats c{0, 2};
  for (int64_t i = 0; i < n; ++i) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t j = 0; j < h; ++j) {
      const double x = a.data<float>()[i * h + j], y = b.data<float>()[i * h + j];
      ab += x * y, aa += x * x, bb += y * y;
    }
    const double cos = ab / std::max(std::sqrt(aa * bb), 1e-300);
    c.mean += cos / double(n);
    c.min = std::min(c.min, cos);
  }
  return c;
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kSeqAlign = 8;  // embed_ids pads to multiples of this

struct Batch {
  int64_t t = 0;          // padded length
  Tensor ids, mask;       // (n, t) on the run's device
  Tensor teacher;         // (n, hidden) CPU: the dense encoder's embeddings
};

// The fixed batches: ids sorted by length, groups of `batch`, each padded.
std::vector<Batch> make_batches(const std::vector<std::vector<int32_t>>& ids, int64_t batch, int64_t max_positions,
                                Context& ctx) {
  std::vector<size_t> order(ids.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ids[a].size() < ids[b].size(); });
  std::vector<Batch> out;
  for (size_t begin = 0; begin < order.size(); begin += size_t(batch)) {
    const size_t n = std::min(size_t(batch), order.size() - begin);
    const int64_t longest = int64_t(ids[order[begin + n - 1]].size());
    Batch b;
    b.t = std::min((longest + kSeqAlign - 1) / kSeqAlign * kSeqAlign, max_positions);
    Tensor tok = Tensor::zeros({int64_t(n), b.t}, *Context::cpu()), mask = Tensor::zeros({int64_t(n), b.t}, *Context::cpu());
    for (size_t r = 0; r < n; ++r) {
      const auto& v = ids[order[begin + r]];
      for (size_t k = 0; k < v.size(); ++k) {
        tok.data<float>()[int64_t(r) * b.t + int64_t(k)] = float(v[k]);
        mask.data<float>()[int64_t(r) * b.t + int64_t(k)] = 1.f;
      }
    }
    b.ids = ctx.is_cuda() ? tok.to(Device::CUDA, ctx) : tok;
    b.mask = ctx.is_cuda() ? mask.to(Device::CUDA, ctx) : mask;
    out.push_back(std::move(b));
  }
  return out;
}

// One net per padded length, made on first use. Training needs a gradient
// buffer for every parameter (each layer's backward writes its own); the
// nets share one set, by Hugging Face name, since only the eliminated
// layers' gradients are read, right after each backward.
class Nets {
 public:
  Nets(bert::BertEncoder& enc, Context& ctx) : enc_(enc), ctx_(ctx) {}
  Net& get(int64_t t) {
    auto it = nets_.find(t);
    if (it != nets_.end()) return *it->second;
    auto net = std::make_unique<Net>(enc_.make_net(ctx_, t));
    for (size_t i = 0; i < net->size(); ++i)
      for (Param* p : net->layer(i).params()) {
        const std::string name = bert::hf_tensor_name(net->layer(i).name(), p->name);
        auto g = grads_.find(name);
        if (g == grads_.end()) g = grads_.emplace(name, Tensor::zeros(p->value.shape(), ctx_)).first;
        p->grad = g->second;
      }
    return *nets_.emplace(t, std::move(net)).first->second;
  }
  void params_changed() {
    for (auto& [t, net] : nets_)
      for (size_t i = 0; i < net->size(); ++i) net->layer(i).on_params_changed();
  }
  void clear() { nets_.clear(); }

 private:
  bert::BertEncoder& enc_;
  Context& ctx_;
  std::map<int64_t, std::unique_ptr<Net>> nets_;
  std::map<std::string, Tensor> grads_;
};

Tensor forward_rows(Net& net, Context& ctx, const Batch& b) {
  const Tensor y = net.forward(ctx, std::vector<Tensor>{b.ids, b.mask}, true)[0];
  return y.to(Device::CPU, ctx);  // a copy: y is the net's buffer, rewritten by the next pass
}

}  // namespace

EmbedDistillResult distill_embeddings(bert::BertEncoder& enc, Context& ctx,
                                      const std::vector<std::vector<int32_t>>& ids, const EmbedDistillConfig& cfg) {
  const auto start = Clock::now();
  const bert::BertConfig& c = enc.config();
  DEFTNN_CHECK(!enc.sve().layers.empty(), "{}: eliminates no layer: nothing to distil (the dense encoder is its own "
               "teacher)", enc.sve().source);
  DEFTNN_CHECK(!ids.empty(), "distill_embeddings: no texts");
  DEFTNN_CHECK(cfg.steps >= 0 && cfg.batch >= 1, "distill_embeddings: {} steps, batch {} (need steps >= 0, batch >= 1)",
               cfg.steps, cfg.batch);
  for (size_t s = 0; s < ids.size(); ++s) {
    DEFTNN_CHECK(!ids[s].empty() && int64_t(ids[s].size()) <= c.max_positions,
                 "distill_embeddings: text {} has {} ids (1 to {} allowed)", s, ids[s].size(), c.max_positions);
    for (int32_t id : ids[s])
      DEFTNN_CHECK(id >= 0 && id < c.vocab, "distill_embeddings: text {}: id {} outside [0, {})", s, id, c.vocab);
  }
  EmbedDistillResult r;
  std::vector<Batch> batches = make_batches(ids, cfg.batch, c.max_positions, ctx);
  r.batches = int64_t(batches.size());

  // The teacher: the dense encoder, the same batches through the same kind of pass.
  bert::BertSve student = bert::clone_bert_sve(enc.sve());
  enc.clear_sve();
  {
    Nets dense(enc, ctx);
    ItemProgress p(cfg.progress, "distill: dense teacher", "batches", r.batches);
    for (size_t i = 0; i < batches.size(); ++i) {
      batches[i].teacher = forward_rows(dense.get(batches[i].t), ctx, batches[i]);
      p.update(int64_t(i) + 1);
    }
    p.finish();
  }
  r.teacher_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  enc.set_sve(std::move(student));

  // The trained arrays, in a fixed order: every eliminated layer's W' and b'.
  struct Trained {
    std::string layer;
    Tensor* host;  // enc.sve_for_update()'s tensor
    bool weight;
  };
  std::vector<Trained> trained;
  Adam adam(cfg.adam);
  for (auto& [layer, L] : enc.sve_for_update().layers) {
    trained.push_back({layer, &L.weight, true});
    trained.push_back({layer, &L.bias, false});
  }
  for (const Trained& t : trained) {
    adam.add(t.host->numel());
    r.parameters += t.host->numel();
  }

  Nets nets(enc, ctx);
  Rng rng(cfg.seed);
  std::vector<size_t> order;
  size_t next = 0;
  std::vector<float*> w(trained.size());
  std::vector<const float*> g(trained.size());
  std::vector<Tensor> host_grads(trained.size());
  std::deque<double> recent;  // the progress note's running mean
  double recent_sum = 0;
  ItemProgress progress(cfg.progress, "distill", "steps", cfg.steps);
  for (int64_t step = 0; step < cfg.steps; ++step) {
    if (next == order.size()) {  // a new epoch: the batches in a fresh random order
      order.resize(batches.size());
      std::iota(order.begin(), order.end(), size_t(0));
      for (size_t j = order.size(); j > 1; --j) std::swap(order[j - 1], order[rng.below(j)]);
      next = 0;
    }
    const Batch& b = batches[order[next++]];
    Net& net = nets.get(b.t);
    const Tensor s = forward_rows(net, ctx, b);
    Tensor ds = Tensor::empty(s.shape());
    const double loss = embedding_distance_loss(s.data<float>(), b.teacher.data<float>(), s.dim(0), s.dim(1),
                                                ds.data<float>());
    DEFTNN_CHECK(std::isfinite(loss), "{}: distillation step {}: loss {} (lower the learning rate, now {})",
                 enc.sve().source, step + 1, loss, cfg.adam.lr);
    r.losses.push_back(loss);
    net.backward(ctx, std::vector<Tensor>{ctx.is_cuda() ? ds.to(Device::CUDA, ctx) : ds});
    for (size_t i = 0; i < trained.size(); ++i) {
      Layer* layer = net.find(trained[i].layer);
      DEFTNN_CHECK(layer, "distill_embeddings: the net has no layer '{}'", trained[i].layer);
      Param* p = layer->params()[trained[i].weight ? 0 : 1];
      if (ctx.is_cuda()) {
        host_grads[i] = p->grad.to(Device::CPU, ctx);
      } else {
        // The net must run the very tensors Adam updates (make_net shares them).
        DEFTNN_CHECK(p->value.data<float>() == trained[i].host->data<float>(),
                     "distill_embeddings: layer '{}': the net's {} is not the encoder's", trained[i].layer, p->name);
        host_grads[i] = p->grad;
      }
      w[i] = trained[i].host->data<float>();
      g[i] = host_grads[i].data<float>();
    }
    adam.step(w, g);
    enc.sve_weights_changed(ctx);
    nets.params_changed();
    recent.push_back(loss), recent_sum += loss;
    if (recent.size() > 20) recent_sum -= recent.front(), recent.pop_front();
    progress.note(fmt::format("loss {:.5f}", recent_sum / double(recent.size())));
    progress.update(step + 1);
  }
  progress.finish();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

}  // namespace deftnn::train
