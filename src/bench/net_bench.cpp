#include "bench/net_bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "core/error.h"
#include "core/rng.h"
#include "layers/gemm_layer.h"
#include "plan/apply.h"

namespace deftnn::bench {

// ---------------------------------------------------------------------------
// Configuration

NetConfig baseline_config(const Context& ctx) {
  NetConfig c;
  c.backend = ctx.is_cuda() ? "cublas" : "cpu-blas";
  c.formats = "fp32";
  c.tag = ctx.is_cuda() ? "fp32-cublas" : "fp32-cpublas";
  return c;
}

ExecPlan baseline_plan(const Context& ctx) {
  ExecPlan p;
  p.defaults.kernel = ctx.is_cuda() ? KernelFamily::Cublas : KernelFamily::CpuBlas;
  return p;
}

// ---------------------------------------------------------------------------
// Running

Tensor random_input(Context& ctx, const Net& net, int64_t batch, uint64_t seed) {
  Shape s = net.input_shape();
  s.insert(s.begin(), batch);
  Rng rng(seed);
  std::vector<float> v(size_t(shape_numel(s)));
  for (auto& x : v) x = rng.uniform(-1.f, 1.f);
  Tensor x = Tensor::from_vector(s, v).to(ctx.device(), ctx);
  require_nonzero(x, ctx, "the benchmark input");
  return x;
}

ForwardRunner::ForwardRunner(Context& ctx, Net& net, int64_t batch, uint64_t seed, bool graph)
    : ctx_(ctx), net_(net), x_(random_input(ctx, net, batch, seed)) {
  // One eager pass sizes the net's activations and workspaces, so that the
  // captured pass neither allocates nor synchronises.
  require_nonzero(net_.forward(ctx_, x_, false), ctx_, fmt::format("the logits of {}", net_.name()));
  method_ = ctx.is_cuda() ? "cuda-events" : "steady-clock";
  if (graph && ctx.is_cuda()) {
    try {
      graph_ = std::make_unique<CudaGraph>(ctx_, [this] { net_.forward(ctx_, x_, false); });
      graph_->replay();
      ctx_.synchronize();
      method_ = "cuda-graph";
    } catch (const Error& e) {
      graph_.reset();
      graph_error_ = e.what();
    }
  }
}

void ForwardRunner::operator()() {
  if (graph_)
    graph_->replay();
  else
    net_.forward(ctx_, x_, false);
}

namespace {

// Per-layer times: each rep runs the layers one after another on this
// benchmark's own activation buffers (one per tensor of the graph), with an
// event (or a clock reading) between consecutive layers. The layers run as
// Net::forward(train = false) runs them (Net::inference_plan): a ReLU fused
// into the layer before it and an inference identity (Dropout) take no time
// of their own. Each layer reads and writes the tensors the graph names, so a
// residual add or a concat is timed like any other layer.
void time_layers(Context& ctx, Net& net, const Tensor& x, const NetBenchOptions& opt, NetRun& run) {
  const int64_t n = x.dim(0);
  const Graph& g = net.topology();
  DEFTNN_CHECK(g.inputs.size() == 1, "{}: the benchmark feeds one input, the graph has {} ({})", net.source(),
               g.inputs.size(), fmt::join(net.input_names(), ", "));
  std::vector<Tensor> acts(g.tensors.size());  // per tensor id, batch n
  for (size_t t = 0; t < g.tensors.size(); ++t)
    acts[t] = t == g.inputs[0] ? x : Tensor::empty(net.tensor_shape(g.tensors[t].name, n), DType::F32, ctx.device());
  const std::vector<Net::InferPlanEntry> plan = net.inference_plan();
  // value[t]: the buffer holding tensor t in a pass (a skipped layer's output
  // is its input's buffer; a fused ReLU's output is written by the layer
  // before it), as Net::forward has it.
  std::vector<const Tensor*> value(acts.size());
  for (size_t t = 0; t < acts.size(); ++t) value[t] = &acts[t];
  std::vector<std::vector<const Tensor*>> in(net.size());
  std::vector<std::vector<Tensor*>> out(net.size());
  for (size_t i = 0; i < net.size(); ++i) {
    const GraphNode& node = g.nodes[i];
    if (plan[i].step == Net::InferStep::Skip) value[node.outputs[0]] = value[node.inputs[0]];
    if (plan[i].step != Net::InferStep::Run) continue;
    for (size_t t : node.inputs) in[i].push_back(value[t]);
    for (size_t t : g.nodes[i + (plan[i].args.relu ? 1 : 0)].outputs) out[i].push_back(&acts[t]);
  }
  auto run_layer = [&](size_t i) {
    if (plan[i].step == Net::InferStep::Run) net.run_inference_step(ctx, plan, i, in[i], out[i]);
  };
  auto pass = [&](SegmentTimer* timer) {
    if (timer) timer->start();
    for (size_t i = 0; i < net.size(); ++i) {
      run_layer(i);
      if (timer) timer->mark(i);
    }
  };
  for (int w = 0; w < opt.timer.warmup; ++w) pass(nullptr);
  ctx.synchronize();

  std::unique_ptr<L2Flusher> flusher;
  if (opt.timer.flush_l2 && ctx.is_cuda()) flusher = std::make_unique<L2Flusher>(ctx);
  SegmentTimer timer(ctx, net.size());
  std::vector<std::vector<double>> samples(net.size());
  std::vector<double> sums;
  for (int r = 0; r < opt.timer.reps; ++r) {
    if (flusher) flusher->flush();
    pass(&timer);
    std::vector<double> ms = timer.elapsed_ms();
    double sum = 0;
    for (size_t i = 0; i < ms.size(); ++i) samples[i].push_back(ms[i]), sum += ms[i];
    sums.push_back(sum);
  }
  run.layer_sum = summarize(sums);
  for (size_t i = 0; i < net.size(); ++i) run.layers[i].time = summarize(std::move(samples[i]));

  // Kernel names: one more pass, untimed, with CUPTI collecting.
  if (opt.kernel_names && ctx.is_cuda()) {
    if (!KernelNameRecorder::available()) {
      run.kernel_names_error = "this build has no CUPTI";
      return;
    }
    try {
      KernelNameRecorder rec(ctx);
      for (size_t i = 0; i < net.size(); ++i) {
        run_layer(i);
        run.layers[i].kernels = rec.take();
      }
    } catch (const Error& e) {
      run.kernel_names_error = e.what();
    }
  }
}

NetRun describe(Context& ctx, Net& net, const std::string& model, const NetConfig& cfg, int64_t batch) {
  NetRun run;
  run.model = model;
  run.tag = cfg.tag;
  run.batch = batch;
  run.config = cfg;
  for (size_t i = 0; i < net.size(); ++i) {
    Layer& l = net.layer(i);
    LayerResult r;
    r.name = l.name();
    r.type = l.type();
    r.out_shape = net.output_shape(i, batch);
    Shape in = net.input_shape_of(i, batch);
    r.flops = l.flops(in);
    if (const GemmLayer* g = l.as_gemm()) {
      r.gemm = l.gemm_shape(in);
      const LayerExec& e = g->exec();
      r.backend = e.kernel == KernelFamily::Cudnn ? "cudnn" : gemm_backend_name(resolve_gemm(ctx, gemm_config(e)).backend);
      // cublaslt-bf16, cpu-emulated-fp8e4m3, ...: the precision those backends run
      if (e.precision != Precision::FP32 && e.precision != Precision::TF32 && e.kernel != KernelFamily::Cudnn)
        r.backend += std::string("-") + precision_name(e.precision);
      r.format = e.format.name();
    }
    run.layers.push_back(std::move(r));
  }
  return run;
}

}  // namespace

NetRun bench_net(Context& ctx, Net& net, const std::string& model, const NetConfig& cfg, const NetBenchOptions& opt) {
  DEFTNN_CHECK(opt.batch > 0, "batch must be positive, got {}", opt.batch);
  net.to(ctx);
  NetRun run = describe(ctx, net, model, cfg, opt.batch);
  ForwardRunner forward(ctx, net, opt.batch, opt.seed, opt.graph);
  time_layers(ctx, net, forward.input(), opt, run);
  run.total = time_fn(ctx, [&] { forward(); }, opt.timer);
  for (size_t i = 0; i < net.size(); ++i)
    if (const GemmLayer* g = net.layer(i).as_gemm(); g && !g->library_algo().empty())
      run.layers[i].backend += ":" + g->library_algo();
  run.total_method = forward.method();
  run.graph_error = forward.graph_error();
  return run;
}

std::pair<NetRun, NetRun> bench_compare(Context& ctx, Net& baseline, Net& candidate, const std::string& model,
                                        const NetConfig& candidate_cfg, const NetBenchOptions& opt) {
  NetConfig base_cfg = baseline_config(ctx);
  ExecPlan base_plan = baseline_plan(ctx);
  const ExecPlan as_is = plan::plan_of(baseline);
  base_plan.fuse_inference = as_is.fuse_inference;
  base_plan.trunk = as_is.trunk;
  plan::apply_plan(baseline, base_plan, ctx.device());
  NetRun base = bench_net(ctx, baseline, model, base_cfg, opt);
  NetRun cand = bench_net(ctx, candidate, model, candidate_cfg, opt);
  // The whole passes again, interleaved, so that the speedup is taken under
  // the same conditions for both.
  ForwardRunner fb(ctx, baseline, opt.batch, opt.seed, opt.graph);
  ForwardRunner fc(ctx, candidate, opt.batch, opt.seed, opt.graph);
  auto stats = time_interleaved(ctx, {[&] { fb(); }, [&] { fc(); }}, opt.timer);
  base.total = stats[0];
  cand.total = stats[1];
  return {std::move(base), std::move(cand)};
}

}  // namespace deftnn::bench
