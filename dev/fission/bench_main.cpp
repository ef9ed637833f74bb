// Stand-alone driver for `bench gemm` while the deftnn CLI's `bench` parent
// command lives on another branch: `deftnn_bench_gemm bench gemm ...`.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/error.h"

void register_bench_gemm_command(CLI::App& bench);

int main(int argc, char** argv) {
  CLI::App app{"deftnn GEMM benchmark"};
  app.require_subcommand(1);
  CLI::App* bench = app.add_subcommand("bench", "benchmarks");
  bench->require_subcommand(1);
  register_bench_gemm_command(*bench);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const deftnn::Error& e) {
    fmt::print(stderr, "deftnn: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
