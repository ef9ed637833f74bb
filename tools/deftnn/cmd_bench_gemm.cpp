// `deftnn bench gemm`: the fission GEMM benchmark (src/bench/gemm_bench.h).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bench/gemm_bench.h"
#include "plan/parse.h"

void register_bench_gemm_command(CLI::App& bench) {
  auto opts = std::make_shared<deftnn::GemmBenchOptions>();
  auto m = std::make_shared<int64_t>(0), n = std::make_shared<int64_t>(0), k = std::make_shared<int64_t>(0);
  auto batch = std::make_shared<std::vector<int>>(std::vector<int>{1, 16, 128});
  auto formats = std::make_shared<std::vector<std::string>>();
  auto only = std::make_shared<bool>(false);
  CLI::App* cmd = bench.add_subcommand("gemm", "time the fission GEMM variants beside cuBLAS (writes bench/results/gemm-*.json)");
  cmd->add_option("--m", *m, "M of an extra shape (rows of W)");
  cmd->add_option("--n", *n, "N of an extra shape (columns of X)");
  cmd->add_option("--k", *k, "K of an extra shape");
  cmd->add_option("--batch", *batch, "AlexNet batches, comma separated (default 1,16,128)")->delimiter(',');
  cmd->add_option("--format", *formats,
                  "variants to time, comma separated: cublas, cublas-tf32, cublas-bf16 (bf16 operands, context only), "
                  "lt-bf16, lt-fp16, lt-fp8 (the engine's cuBLASLt backend, fp32 accumulate), "
                  "<format> (fission on chip), offchip-<format>, h2 (default: all)")
      ->delimiter(',');
  cmd->add_option("--reps", opts->reps, "timed repetitions (median; at least 20)");
  cmd->add_option("--out", opts->out, "JSON path (default bench/results/gemm-<date>.json)");
  cmd->add_flag("--only-shape", *only, "with --m --n --k: skip the AlexNet shapes");
  cmd->callback([=] {
    deftnn::GemmBenchOptions o = *opts;
    o.batches = *batch;
    o.variants = *formats;
    for (auto& v : o.variants)
      if (v != "cublas" && v != "cublas-tf32" && v != "cublas-bf16" && v != "lt-bf16" && v != "lt-fp16" &&
          v != "lt-fp8" && v != "h2")
        deftnn::plan::parse_format(v.rfind("offchip-", 0) == 0 ? v.substr(8) : v);  // throws on unknown names
    if (*m && *n && *k) o.extra.push_back({"custom", {*m, *n, *k}, 0});
    if (*only) o.alexnet = false;
    deftnn::run_gemm_bench(o);
  });
}
