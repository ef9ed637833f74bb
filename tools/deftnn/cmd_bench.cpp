// `deftnn bench MODEL`: the network benchmark (src/bench/net_bench.h), and the
// parent of `deftnn bench gemm` (tools/deftnn/cmd_bench_gemm.cpp).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "bench/ceilings.h"
#include "bench/layer_traffic.h"
#include "bench/net_bench.h"
#include "bench/roofline.h"
#include "core/context.h"
#include "core/output_file.h"
#include "core/error.h"
#include "net/net.h"
#include "plan/apply.h"
#include "plan/parse.h"
#include "sve/eliminate.h"
#include "tune/granularity.h"

namespace fs = std::filesystem;

#include "device_option.h"
#include "plan_options.h"
#include "script_path.h"
#include "typed_option.h"

// tools/deftnn/cmd_bench_gemm.cpp: adds `bench gemm` under `bench`.
void register_bench_gemm_command(CLI::App& bench);
// tools/deftnn/cmd_bench_embed.cpp: `bench embed` (the BERT encoder per SVE density).
void register_bench_embed_command(CLI::App& bench);

namespace {

struct BenchArgs {
  std::string model;
  int64_t batch = 1;
  std::optional<deftnn::Device> device;  // auto
  int reps = 50, warmup = 10;
  deftnn::plan::PlanFlags plan;  // --format --kernel --precision --transform --no-fuse --no-trunk
  std::string sve, out = "bench/results", tag;
  double density = 0;  // > 0: eliminate every GEMM layer but the first to this density (sve::eliminate)
  deftnn::sve::Method density_method = deftnn::sve::Method::Sve;
  deftnn::tune::Granularity granularity = deftnn::tune::Granularity::Tap;  // of --density's groups
  bool compare = false, no_graph = false, no_flush = false, no_kernel_names = false;
  bool roofline = false;  // place every layer on the GPU's roofline (docs/bottlenecks.md)
  bool no_plot = false;
  uint64_t seed = 1, init_seed = 1;
};

// The methods sve::eliminate runs.
deftnn::sve::Method parse_density_method(const std::string& name) {
  using deftnn::sve::Method;
  return deftnn::sve::parse_method(name, {Method::Sve, Method::L1}, "density method");
}

// The model name used in reports: the graph's name, else the file stem.
std::string model_label(const deftnn::Net& net, const std::string& path) {
  return net.name().empty() ? fs::path(path).stem().string() : net.name();
}

deftnn::Net load_net(const std::string& path, uint64_t init_seed) {
  deftnn::Net net = deftnn::Net::load(path);
  // A graph file carries no weights: random ones (the timing does not depend
  // on their values, only on their not being zero). Model files keep theirs.
  if (fs::path(path).extension() == ".json") net.init(init_seed);
  return net;
}

// The report's label of the plan flags: kernel (with a precision other than
// fp32) and formats as given.
deftnn::bench::NetConfig flags_config(const deftnn::plan::PlanFlags& f) {
  deftnn::bench::NetConfig c;
  c.backend = f.kernel;
  if (!f.precision.empty() && f.precision != "fp32")
    c.backend += (c.backend.empty() ? "" : "-") +
                 (f.precision.find_first_of("=,") == std::string::npos ? f.precision : std::string("mixedprec"));
  for (const std::string& item : f.format) c.formats += (c.formats.empty() ? "" : ",") + item;
  if (!f.weights.empty())  // kernel mixed: the weights name the run
    c.backend += (c.backend.empty() ? "" : "-") + std::string("mixed-") +
                 (f.weights.find_first_of("=,") == std::string::npos ? f.weights : std::string("perlayer"));
  return c;
}

std::string default_tag(const deftnn::bench::NetConfig& c, bool sve) {
  std::string t = c.backend.empty() ? (c.formats.empty() ? "asloaded" : "fission") : c.backend;
  if (!c.formats.empty()) t += "-" + (c.formats.find('=') == std::string::npos ? c.formats : std::string("mixed"));
  if (sve) t += "-sve";
  return t;
}

// Before any timing: --out is a .json file that can be written, or a folder
// (created when missing) that can be written into.
void check_report_path(const std::string& out) {
  namespace fs = std::filesystem;
  if (fs::path(out).extension() == ".json") {
    if (fs::path(out).has_parent_path()) deftnn::check_writable_folder(fs::path(out).parent_path().string());
    deftnn::check_writable(out);
  } else {
    deftnn::check_writable_folder(out);
  }
}

// The roofline plot beside its JSON (scripts/plot_roofline.py through python3
// with matplotlib, as `deftnn optimize` draws its plots), or why not.
void plot_roofline(const std::string& json_path) {
  const std::string script = find_repo_script("plot_roofline.py");
  if (script.empty() || std::system("python3 -c 'import matplotlib' >/dev/null 2>&1") != 0) {
    fmt::print("plot skipped: {}\n", script.empty() ? "scripts/plot_roofline.py not found"
                                                     : "python3 with matplotlib is not available; later: "
                                                       "python3 scripts/plot_roofline.py OUT.png " + json_path);
    return;
  }
  const std::string png = fs::path(json_path).replace_extension(".png").string();
  const std::string cmd = fmt::format("python3 '{}' '{}' '{}'", script, png, json_path);
  if (std::system(cmd.c_str()) != 0)
    fmt::print("plot failed: {}\n", cmd);
  else
    fmt::print("wrote {}\n", png);
}

void run_bench(const BenchArgs& a) {
  using namespace deftnn;
  using namespace deftnn::bench;
  DEFTNN_CHECK(!a.model.empty(), "deftnn bench needs a MODEL (a models/*.json graph or a .safetensors model file)");
  DEFTNN_CHECK(!(a.roofline && a.compare),
               "--roofline places one configuration: run it once per variant (dense, SVE, fission, both) and give "
               "the JSONs to scripts/plot_roofline.py, without --compare");
  check_report_path(a.out);
  Device dev = resolve_device(a.device);
  if (!a.device && dev == Device::CPU)
    fmt::print(stderr, "deftnn bench: no GPU ({}); timing on the CPU\n", cuda_unavailable_reason());
  std::unique_ptr<Context> ctx = Context::make(dev);

  NetBenchOptions opt;
  opt.batch = a.batch;
  opt.timer.reps = a.reps;
  opt.timer.warmup = a.warmup;
  opt.timer.flush_l2 = !a.no_flush;
  opt.graph = !a.no_graph;
  opt.kernel_names = !a.no_kernel_names;
  opt.seed = a.seed;

  // The candidate: the model (or --sve's model file) with the plan flags
  // applied over the plan it was loaded with. Without any, the baseline.
  const plan::PlanFlags& f = a.plan;
  DEFTNN_CHECK(a.density > 0 || a.granularity == tune::Granularity::Tap,
               "bench: --granularity channel says what --density eliminates; give --density too");
  const bool custom = !f.format.empty() || !f.kernel.empty() || !f.precision.empty() || !f.transform.empty() ||
                      !f.weights.empty() || !a.sve.empty() || a.density > 0;
  NetConfig cfg = custom || a.compare ? flags_config(f) : baseline_config(*ctx);
  if (custom || a.compare) {
    // No kernel forced for --format: a layer whose format is not fp32 runs
    // the fission kernels (KernelFamily::Auto), the others stay on cuBLAS, so
    // a per-layer list (fc6=fp8e4m3,...) changes only the layers it names.
    cfg.tag = default_tag(cfg, !a.sve.empty() || a.density > 0);
    if (a.density > 0) cfg.tag += fmt::format("{:.0f}", a.density * 100);
    if (a.density > 0 && a.granularity == tune::Granularity::Channel) cfg.tag += "-ch";
    if (!f.transform.empty()) cfg.tag += "-" + f.transform;  // the SVE input transform (Figure 6)
  }
  if (!a.tag.empty()) cfg.tag = a.tag;
  auto candidate_plan = [&](const Net& net) {
    return plan::from_flags(f, custom || a.compare ? plan::plan_of(net) : baseline_plan(*ctx));
  };
  // The layout flags (--no-fuse, --no-trunk) hold for the baseline of --compare too.
  plan::PlanFlags layout;
  layout.no_fuse = f.no_fuse, layout.no_trunk = f.no_trunk;

  Net model = load_net(a.model, a.init_seed);
  const std::string label = model_label(model, a.model);
  std::vector<NetRun> runs;
  // --roofline: the counts of every layer; on a GPU also the ceilings
  // (measured before the net is timed, in this process) and the placement.
  std::vector<LayerTraffic> traffic;
  std::optional<Ceilings> ceilings;
  std::string roofline_skipped;
  nlohmann::json extra = {{"model_path", a.model}, {"sve_model_path", a.sve.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.sve)}};
  // --density: the candidate is the model with synapse vector elimination at a
  // fixed density in every GEMM layer but the first (no fine-tuning: timing only).
  const SveTransform transform = f.transform.empty() ? SveTransform::Fused : plan::parse_transform(f.transform);
  auto eliminate = [&](Net& net) {
    if (a.density <= 0) return;
    sve::EliminateOptions eo;
    eo.density = a.density;
    eo.method = a.density_method;
    eo.transform = transform;
    eo.group_of = [&net, g = a.granularity](size_t i) { return tune::elimination_group(net, i, g); };
    extra["sve_density"] = {{"method", sve::method_name(eo.method)},
                            {"granularity", tune::granularity_name(a.granularity)},
                            {"transform", sve_transform_name(transform)},
                            {"layers", sve::to_json(sve::eliminate(net, *ctx, eo))}};
  };

  extra["inference_fusion"] = {{"fuse", !f.no_fuse}, {"channel_major_trunk", !f.no_fuse && !f.no_trunk}};
  if (a.compare) {
    Net candidate = load_net(a.sve.empty() ? a.model : a.sve, a.init_seed);
    eliminate(candidate);
    plan::apply_plan(model, plan::from_flags(layout, plan::plan_of(model)), dev);
    plan::apply_plan(candidate, candidate_plan(candidate), dev);
    if (candidate.metadata().contains("sve")) extra["sve"] = candidate.metadata()["sve"];
    extra["plan"] = plan::to_json(plan::plan_of(candidate));
    auto [base, cand] = bench_compare(*ctx, model, candidate, label, cfg, opt);
    fmt::print("{}\n{}", format_table(base), format_table(cand, &base));
    runs = {std::move(base), std::move(cand)};
  } else {
    Net net = a.sve.empty() ? std::move(model) : load_net(a.sve, a.init_seed);
    eliminate(net);
    plan::apply_plan(net, candidate_plan(net), dev);
    if (net.metadata().contains("sve")) extra["sve"] = net.metadata()["sve"];
    extra["plan"] = plan::to_json(plan::plan_of(net));
    if (a.roofline && !ctx->is_cuda()) {
      // Nothing to place against on the CPU: the counts alone, and a loud skip.
      roofline_skipped = a.device ? "the roofline needs a GPU (--device cpu)"
                                  : fmt::format("the roofline needs a GPU ({})", cuda_unavailable_reason());
      traffic = net_traffic(*ctx, net, a.batch);
      fmt::print("{} batch {}  [{}]  counted FLOPs and bytes\n{}", label, a.batch, cfg.tag,
                 format_roofline_table(traffic, nullptr, nullptr));
      fmt::print(stderr,
                 "deftnn bench --roofline: SKIPPED the ceilings, timing and placement: {}\n"
                 "  (the counts are those of the plan as the CPU runs it: its tensor-core and mixed-input stand-ins "
                 "keep fp32 weights, and activations stay NCHW; a GPU run counts the GPU's plan)\n",
                 roofline_skipped);
    } else {
      if (a.roofline) {
        fmt::print("measuring the ceilings (HBM, GEMM peaks, launch floor)...\n");
        ceilings = measure_ceilings(*ctx);
      }
      runs.push_back(bench_net(*ctx, net, label, cfg, opt));
      fmt::print("{}", format_table(runs[0]));
      if (a.roofline) {
        traffic = net_traffic(*ctx, net, a.batch);
        apply_mixed_decisions(traffic, mixed_decisions(*ctx));
        fmt::print("\nroofline\n{}", format_roofline_table(traffic, &runs[0], &*ceilings));
      }
    }
  }
  for (const auto& r : runs)
    if (!r.kernel_names_error.empty()) fmt::print(stderr, "note: kernel names not recorded: {}\n", r.kernel_names_error);

  // Kernel mixed (--weights): the path measured per shape, and its two times.
  if (const auto ds = mixed_decisions(*ctx); !ds.empty()) {
    extra["mixed_decisions"] = nlohmann::json::array();
    for (const MixedDecision& d : ds) {
      extra["mixed_decisions"].push_back({{"M", d.M}, {"N", d.N}, {"K", d.K}, {"weights", d.format.name()},
                                          {"chosen", mixed_choice_name(d.chosen)}, {"kernel_ms", d.kernel_ms},
                                          {"dequantized_ms", d.dequantized_ms}});
      fmt::print("mixed {} M {} N {} K {}: kernel {:.4f} ms, cuBLASLt bf16 on dec(W) {:.4f} ms -> {}\n",
                 d.format.name(), d.M, d.N, d.K, d.kernel_ms, d.dequantized_ms, mixed_choice_name(d.chosen));
    }
  }
  // Environment last, so the clocks read are those right after the work.
  fs::path out = a.out;
  if (a.roofline) {
    nlohmann::json report = roofline_report_json(traffic, runs.empty() ? nullptr : &runs[0],
                                                 ceilings ? &*ceilings : nullptr, label, a.batch, cfg, opt,
                                                 environment(*ctx), extra, roofline_skipped);
    if (out.extension() != ".json") out /= roofline_file_name(label, a.batch, cfg.tag, utc_stamp_now());
    write_text_atomic(out.string(), report.dump(2) + "\n");
    fmt::print("wrote {}\n", out.string());
    if (roofline_skipped.empty() && !a.no_plot) plot_roofline(out.string());
    return;
  }
  nlohmann::json report = report_json(runs, opt, environment(*ctx), extra);
  std::string tag = a.compare ? "compare-" + runs.back().tag : runs.back().tag;
  if (out.extension() != ".json") out /= report_file_name(label, a.batch, tag, utc_stamp_now());
  write_text_atomic(out.string(), report.dump(2) + "\n");
  fmt::print("wrote {}\n", out.string());
}

}  // namespace

void register_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* bench = app.add_subcommand(
      "bench", "Time a network's forward pass per layer and in total (or `bench gemm`: GEMM kernels)");
  bench->add_option("model", args->model, "a models/*.json graph (random weights), a .safetensors model file or an ONNX model (.onnx)");
  bench->add_option("--batch,-b", args->batch, "batch size")->capture_default_str();
  add_device_option(*bench, args->device);
  bench->add_option("--reps", args->reps, "timed repetitions")->capture_default_str();
  bench->add_option("--warmup", args->warmup, "untimed warm-up runs")->capture_default_str();
  add_plan_options(*bench, args->plan);
  bench->add_option("--sve", args->sve, "a model file with SVE state to benchmark (against MODEL with --compare)");
  bench->add_option("--density", args->density,
                    "synapse vector elimination at this density (0..1] in every GEMM layer but the first, "
                    "applied to the candidate before timing (no fine-tuning)");
  add_typed_option(*bench, "--density-method", args->density_method, parse_density_method,
                   "how --density picks the kept vectors: sve (default) or l1");
  add_typed_option(*bench, "--granularity", args->granularity, deftnn::tune::parse_granularity,
                   "what --density eliminates: tap (single synapse vectors, default) or channel (a conv's whole "
                   "input channels, as `optimize --granularity channel` and the ONNX export's shrunk convs)");
  bench->add_option("--out,-o", args->out, "output folder, or a .json file")->capture_default_str();
  bench->add_option("--tag", args->tag, "name of the configuration in the report and file name");
  bench->add_flag("--compare", args->compare,
                  "also run the fp32 cuBLAS baseline in this process, interleaved, and report the speedup");
  bench->add_flag("--roofline", args->roofline,
                  "place every layer on the GPU's roofline: counted FLOPs and bytes, ceilings measured in this run "
                  "(HBM, GEMM peaks, launch floor), what binds each layer; JSON roofline-*.json and a PNG beside it "
                  "(docs/bottlenecks.md). Without a GPU: the counts alone, the rest skipped");
  bench->add_flag("--no-plot", args->no_plot, "with --roofline: write the JSON only (plot later with scripts/plot_roofline.py)");
  bench->add_flag("--no-graph", args->no_graph, "time the whole pass eagerly, not as a CUDA graph replay");
  bench->add_flag("--no-flush-l2", args->no_flush, "do not flush the L2 between repetitions");
  bench->add_flag("--no-kernel-names", args->no_kernel_names, "skip the CUPTI pass that records kernel names");
  bench->add_option("--seed", args->seed, "seed of the random input")->capture_default_str();
  bench->add_option("--init-seed", args->init_seed, "seed of the random weights of a .json graph")->capture_default_str();
  bench->callback([args, bench] {
    if (!bench->get_subcommands().empty()) return;  // `bench gemm ...` ran instead
    run_bench(*args);
  });
  register_bench_gemm_command(*bench);
  register_bench_embed_command(*bench);
}
