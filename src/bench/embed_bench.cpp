#include "bench/embed_bench.h"

#include <fmt/format.h>

#include <memory>

#include "bench/timer.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/timing.h"
#include "plan/parse.h"

namespace deftnn::bench {

namespace {

// One case's net and inputs, its pass as a CUDA graph when it can be captured.
struct EmbedRunner {
  Context& ctx;
  Net net;
  std::vector<Tensor> in;  // ids (N, T) F32 whole numbers, mask (N, T) all ones
  std::unique_ptr<CudaGraph> graph;
  std::string graph_error;

  EmbedRunner(Context& c, Net n, std::vector<Tensor> inputs) : ctx(c), net(std::move(n)), in(std::move(inputs)) {}
  void pass() { net.forward(ctx, in, false); }
  void operator()() {
    if (graph)
      graph->replay();
    else
      pass();
  }
};

}  // namespace

nlohmann::json bench_embed(Context& ctx, bert::BertEncoder& encoder, const std::vector<EmbedBenchCase>& cases,
                           const EmbedBenchOptions& opt) {
  DEFTNN_CHECK(!cases.empty(), "bench-embed: no cases to time");
  DEFTNN_CHECK(opt.batch >= 1 && opt.tokens >= 1 && opt.tokens <= encoder.config().max_positions,
               "bench-embed: batch {} x {} tokens (the model has {} positions)", opt.batch, opt.tokens,
               encoder.config().max_positions);
  DEFTNN_CHECK(opt.reps >= 1 && opt.warmup >= 0, "bench-embed: reps {} warmup {}", opt.reps, opt.warmup);
  auto say = [&](const std::string& s) {
    if (opt.progress) opt.progress(s);
  };
  // The same random ids for every case; ids 0..vocab-1 (the timing does not
  // depend on which), every token real (mask 1), so T is the work's length.
  const int64_t n = opt.batch, t = opt.tokens;
  Rng rng(opt.seed);
  std::vector<float> ids(size_t(n * t)), ones(size_t(n * t), 1.f);
  for (auto& id : ids) id = float(rng.below(uint64_t(encoder.config().vocab)));
  std::vector<Tensor> in = {Tensor::from_vector({n, t}, ids), Tensor::from_vector({n, t}, ones)};
  if (ctx.is_cuda()) in = {in[0].to(Device::CUDA, ctx), in[1].to(Device::CUDA, ctx)};

  // The encoder's own SVE state and plan, put back however this returns.
  struct Restore {
    bert::BertEncoder& e;
    bert::BertSve sve;
    ExecPlan plan;
    ~Restore() {
      try {
        e.set_sve(std::move(sve));
      } catch (...) {  // it was set before, so it cannot fail; a destructor must not throw
      }
      e.set_exec_plan(std::move(plan));
    }
  } restore{encoder, encoder.sve(), encoder.exec_plan()};
  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::unique_ptr<EmbedRunner>> runners;
  const auto linears = bert::bert_linear_layers(encoder.config());
  for (size_t c = 0; c < cases.size(); ++c) {
    say(fmt::format("building {} ({} of {})", cases[c].label, c + 1, cases.size()));
    encoder.set_sve(cases[c].sve);
    encoder.set_exec_plan(cases[c].plan);
    auto r = std::make_unique<EmbedRunner>(ctx, encoder.make_net(ctx, t), in);
    // One eager pass sizes the activations and workspaces and uploads the
    // SVE index lists, so that the captured pass neither allocates nor syncs.
    r->pass();
    require_nonzero(r->net.forward(ctx, r->in, false)[0], ctx, "the embeddings of " + cases[c].label);
    if (opt.graph && ctx.is_cuda()) {
      try {
        r->graph = std::make_unique<CudaGraph>(ctx, [p = r.get()] { p->pass(); });
        r->graph->replay();
        ctx.synchronize();
      } catch (const Error& e) {
        r->graph.reset();
        r->graph_error = e.what();
      }
    }
    // Work of the linear layers: 2 * (N T) * out * K' each.
    int64_t kept = 0, total = 0;
    double flop = 0;
    for (const std::string& l : linears) {
      const Shape& w = encoder.tensor(bert::hf_tensor_name(l, "weight")).shape();  // (out, K)
      auto e = cases[c].sve.layers.find(l);
      const int64_t kp = e == cases[c].sve.layers.end() ? w[1] : int64_t(e->second.state.kept.size());
      kept += kp, total += w[1];
      flop += 2.0 * double(n * t) * double(w[0]) * double(kp);
    }
    nlohmann::json row = {{"label", cases[c].label},
                          {"precision", precision_name(cases[c].plan.defaults.precision)},
                          {"plan", plan::to_json(cases[c].plan)},
                          {"kept_columns", kept},
                          {"total_columns", total},
                          {"density", double(kept) / double(total)},
                          {"linear_gflop", flop * 1e-9},
                          {"sve_meta", cases[c].sve.meta},
                          {"method", ctx.is_cuda() ? (r->graph ? "cuda-graph" : "cuda-events") : "steady-clock"}};
    if (!r->graph_error.empty()) row["graph_error"] = r->graph_error;
    rows.push_back(std::move(row));
    runners.push_back(std::move(r));
  }

  // Interleaved rounds, one time_samples call per round so progress can be
  // told between them (each call synchronises; warm-up rounds are untimed).
  std::vector<std::function<void()>> fns;
  for (auto& r : runners) fns.push_back([p = r.get()] { (*p)(); });
  TimingOptions one;
  one.warmup = 0, one.reps = 1, one.clock = TimingClock::Events;
  for (int w = 0; w < opt.warmup; ++w) {
    for (auto& f : fns) f();
    ctx.synchronize();
    say(fmt::format("warm-up round {} of {}", w + 1, opt.warmup));
  }
  std::vector<std::vector<double>> samples(fns.size());
  for (int rep = 0; rep < opt.reps; ++rep) {
    const auto s = time_samples(ctx, fns, one);
    for (size_t i = 0; i < fns.size(); ++i) samples[i].push_back(s[i].front());
    say(fmt::format("timed round {} of {} (last: {} {:.3f} ms)", rep + 1, opt.reps, cases.front().label,
                    s.front().front()));
  }
  const TimingStats first = summarize(samples.front());
  for (size_t i = 0; i < fns.size(); ++i) {
    const TimingStats st = summarize(samples[i]);
    rows[i]["timing"] = to_json(st);
    rows[i]["speedup_vs_first"] = first.median_ms / st.median_ms;
  }
  nlohmann::json env = environment(ctx);
  return {{"what", "BERT encoder forward (ids, mask -> embeddings), dense and with SVE on the linear layers, "
                   "interleaved rounds; src/bench/embed_bench.h"},
          {"model", opt.model},
          {"commit", env["commit"]},
          {"date", env["date"]},
          {"device", ctx.is_cuda() && env["gpu"].is_object() ? env["gpu"]["name"] : env["cpu"]},
          {"environment", env},
          {"batch", n},
          {"tokens", t},
          {"warmup", opt.warmup},
          {"reps", opt.reps},
          {"statistic", "median"},
          {"cases", rows}};
}

}  // namespace deftnn::bench
