// `deftnn bench embed MODEL_DIR`: the BERT encoder timed dense and with SVE
// on its 36 linear layers, per density (src/bench/embed_bench.h), at one
// batch shape (32 x 128 tokens by default), written as JSON.
//
// The cases, in order: the dense encoder; one per --density (every linear
// layer keeps that share of its input columns, spread evenly: shapes and work
// of an eliminated model, weights not a model's; bert::spread_sve); one per
// --sve file (a real elimination, e.g. scripts/sve_minilm_study.py
// --write-sve). Speed-ups are relative to the dense case.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "bench/embed_bench.h"
#include "bench/timer.h"
#include "core/error.h"
#include "core/output_file.h"
#include "device_option.h"
#include "net/bert.h"
#include "plan/parse.h"

namespace fs = std::filesystem;

namespace {

struct BenchEmbedArgs {
  std::string model_dir, out = "bench/results";
  std::vector<double> densities = {0.9, 0.7, 0.5};
  std::vector<std::string> sve;
  std::vector<std::string> precisions = {"fp32"};
  std::optional<deftnn::Device> device;
  deftnn::bench::EmbedBenchOptions opt;
  bool no_graph = false, quiet = false, dense_only = false;
};

void run_bench_embed(BenchEmbedArgs a) {
  using namespace deftnn;
  // Before any work: where the report goes.
  if (fs::path(a.out).extension() == ".json") {
    if (fs::path(a.out).has_parent_path()) check_writable_folder(fs::path(a.out).parent_path().string());
    check_writable(a.out);
  } else {
    check_writable_folder(a.out);
  }
  std::vector<Precision> precisions;  // parsed before the model is read: a typo costs nothing
  for (const std::string& p : a.precisions) precisions.push_back(plan::parse_precision(p));
  auto encoder = bert::BertEncoder::load(a.model_dir);
  std::vector<bench::EmbedBenchCase> sves = {{"dense", {}, {}}};
  if (a.dense_only) a.densities.clear();
  for (double d : a.densities) sves.push_back({fmt::format("spread {:.2f}", d), bert::spread_sve(encoder, d), {}});
  for (const std::string& f : a.sve) {
    bert::BertSve s = bert::read_bert_sve(f);
    encoder.set_sve(s);  // checked against the model now, before any timing
    sves.push_back({fs::path(f).filename().string(), std::move(s), {}});
  }
  encoder.clear_sve();
  // Every SVE case in every precision, precision by precision (the first
  // case, dense in the first precision, is what the speed-ups are against).
  std::vector<bench::EmbedBenchCase> cases;
  for (Precision p : precisions)
    for (const auto& c : sves) {
      bench::EmbedBenchCase x = c;
      x.plan.defaults.precision = p;
      if (precisions.size() > 1 || p != Precision::FP32) x.label += std::string(" ") + precision_name(p);
      cases.push_back(std::move(x));
    }
  auto ctx = Context::make(resolve_device(a.device));
  a.opt.graph = !a.no_graph;
  a.opt.model = fs::path(a.model_dir).lexically_normal().filename().string();
  if (a.opt.model.empty() || a.opt.model == "model")
    a.opt.model = fs::path(a.model_dir).lexically_normal().parent_path().filename().string();
  if (!a.quiet) a.opt.progress = [](const std::string& s) { fmt::print(stderr, "bench embed: {}\n", s); };
  const nlohmann::json report = bench::bench_embed(*ctx, encoder, cases, a.opt);
  fs::path out = a.out;
  if (out.extension() != ".json")
    out /= fmt::format("embed-{}-{}-b{}x{}-{}.json", a.opt.model, device_name(ctx->device()), a.opt.batch,
                       a.opt.tokens, bench::utc_stamp_now());
  write_text_atomic(out.string(), report.dump(2) + "\n");
  if (report["cases"][0].contains("graph_error"))
    fmt::print(stderr, "bench embed: no CUDA graph, eager passes between CUDA events: {}\n",
               report["cases"][0]["graph_error"].get<std::string>());
  for (const auto& c : report["cases"])
    fmt::print("{:<40} density {:.3f}  {:9.3f} ms  x{:.2f}\n", c["label"].get<std::string>(),
               c["density"].get<double>(), c["timing"]["median_ms"].get<double>(),
               c["speedup_vs_first"].get<double>());
  fmt::print("wrote {}\n", out.string());
}

}  // namespace

void register_bench_embed_command(CLI::App& bench) {
  auto a = std::make_shared<BenchEmbedArgs>();
  CLI::App* cmd = bench.add_subcommand(
      "embed", "time a BERT encoder (all-MiniLM-L6-v2) dense and with SVE per density (writes bench/results/embed-*.json)");
  cmd->add_option("model_dir", a->model_dir, "the model's folder (config.json, modules.json, model.safetensors)")
      ->required();
  cmd->add_option("--density", a->densities,
                  "densities to time, comma separated: every linear layer keeps that share of its input columns "
                  "(default 0.9,0.7,0.5)")
      ->delimiter(',')
      ->check(CLI::Range(1e-6, 1.0));
  cmd->add_option("--sve", a->sve, "SVE files to time as well (repeatable; bert_sve.h's format)");
  cmd->add_option("--precision", a->precisions,
                  "compute precisions of the linear layers to time, comma separated (default fp32): fp32 | tf32 | "
                  "bf16 | fp16 | fp8e4m3; every case runs in each (attention, LayerNorm and GELU stay fp32)")
      ->delimiter(',');
  add_device_option(*cmd, a->device);
  cmd->add_option("--batch", a->opt.batch, "sequences per pass (default 32)")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--tokens", a->opt.tokens, "tokens per sequence, all real (default 128)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--reps", a->opt.reps, "timed rounds (median; default 20)")->check(CLI::Range(1, 100000));
  cmd->add_option("--warmup", a->opt.warmup, "untimed rounds first (default 3)")->check(CLI::Range(0, 100000));
  cmd->add_option("--seed", a->opt.seed, "seed of the random ids");
  cmd->add_option("--out,-o", a->out, "output folder, or a .json file")->capture_default_str();
  cmd->add_flag("--dense-only", a->dense_only, "no --density cases (the dense encoder and any --sve files)");
  cmd->add_flag("--no-graph", a->no_graph, "eager launches instead of a CUDA graph replay");
  cmd->add_flag("--quiet", a->quiet, "no progress on stderr");
  cmd->callback([a] { run_bench_embed(*a); });
}
