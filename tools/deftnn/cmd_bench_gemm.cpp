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
  auto llm = std::make_shared<std::vector<int>>(std::vector<int>{1, 16, 64, 128, 512});
  auto no_llm = std::make_shared<bool>(false), no_alexnet = std::make_shared<bool>(false);
  CLI::App* cmd = bench.add_subcommand("gemm", "time the fission GEMM variants beside cuBLAS (writes bench/results/gemm-*.json)");
  cmd->add_option("--m", *m, "M of an extra shape (rows of W)");
  cmd->add_option("--n", *n, "N of an extra shape (columns of X)");
  cmd->add_option("--k", *k, "K of an extra shape");
  cmd->add_option("--batch", *batch, "AlexNet batches, comma separated (default 1,16,128)")->delimiter(',');
  cmd->add_option("--format", *formats,
                  "variants to time, comma separated: cublas, cublas-tf32, cublas-bf16 (bf16 operands, context only), "
                  "lt-bf16, lt-fp16, lt-fp8 (the engine's cuBLASLt backend, fp32 accumulate), "
                  "<format> (fission on chip), offchip-<format>, h2, "
                  "mix-int8, mix-fp8, mix-deft8 (= mix-deft8e4), mix-deft8e<E>, mix-int4, mix-fp4 (tensor-core mixed-input GEMM) (default: all)")
      ->delimiter(',');
  cmd->add_option("--reps", opts->reps, "timed repetitions (median; at least 20)");
  cmd->add_option("--out", opts->out, "JSON path (default bench/results/gemm-<date>.json)");
  cmd->add_flag("--only-shape", *only, "with --m --n --k: skip the AlexNet and Llama shapes");
  cmd->add_option("--llm-tokens", *llm,
                  "token counts (N) of the Llama-7B shapes 4096x4096, 11008x4096, 4096x11008 (default 1,16,64,128,512)")
      ->delimiter(',');
  cmd->add_flag("--no-llm", *no_llm, "skip the Llama-7B shapes");
  cmd->add_flag("--no-alexnet", *no_alexnet, "skip the AlexNet shapes");
  cmd->callback([=] {
    deftnn::GemmBenchOptions o = *opts;
    o.batches = *batch;
    o.variants = *formats;
    o.llm_tokens = *no_llm ? std::vector<int>{} : *llm;
    for (auto& v : o.variants)
      if (deftnn::is_mix_variant(v)) deftnn::mix_format_name(v);  // throws on unknown names
      else if (v != "cublas" && v != "cublas-tf32" && v != "cublas-bf16" && v != "lt-bf16" &&
               v != "lt-fp16" && v != "lt-fp8" && v != "h2")
        deftnn::plan::parse_format(v.rfind("offchip-", 0) == 0 ? v.substr(8) : v);  // throws on unknown names
    if (*m && *n && *k) o.extra.push_back({"custom", {*m, *n, *k}, 0});
    if (*no_alexnet) o.alexnet = false;
    if (*only) o.alexnet = false, o.llm_tokens.clear();
    deftnn::run_gemm_bench(o);
  });
}
