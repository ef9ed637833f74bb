// The deftnn command line: one subcommand per job. Errors from the library
// arrive as deftnn::Error and leave here as a message and exit code 1.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <functional>
#include <string>

#include "bench/timer.h"
#include "core/error.h"

void register_inspect_command(CLI::App& app);
void register_train_command(CLI::App& app);
void register_eval_command(CLI::App& app);
void register_bench_command(CLI::App& app);
void register_optimize_command(CLI::App& app);
void register_tokenize_command(CLI::App& app);

int main(int argc, char** argv) {
  CLI::App app{"deftnn: synapse vector elimination and near-compute data fission for DNNs on GPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::function<std::string()>([] {
                         return fmt::format("deftnn {} (commit {})", DEFTNN_VERSION, deftnn::bench::git_commit());
                       }));
  register_inspect_command(app);
  register_train_command(app);
  register_eval_command(app);
  register_bench_command(app);
  register_optimize_command(app);
  register_tokenize_command(app);
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
