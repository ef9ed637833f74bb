// The deftnn command line: one subcommand per job. Errors from the library
// arrive as deftnn::Error and leave here as a message and exit code 1; any
// other exception does too, never an abort. The message is the one a user
// needs; `--verbose` (or DEFTNN_VERBOSE=1) adds where in the code the check
// failed (the failed statement, file and line).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <new>
#include <nlohmann/json.hpp>
#include <string>

#include "bench/timer.h"
#include "core/error.h"

void register_inspect_command(CLI::App& app);
void register_train_command(CLI::App& app);
void register_eval_command(CLI::App& app);
void register_bench_command(CLI::App& app);
void register_optimize_command(CLI::App& app);
void register_tokenize_command(CLI::App& app);
void register_embed_command(CLI::App& app);
void register_distill_embed_command(CLI::App& app);
void register_run_command(CLI::App& app);
void register_export_command(CLI::App& app);

int main(int argc, char** argv) {
  CLI::App app{"deftnn: synapse vector elimination and near-compute data fission for DNNs on GPUs"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("--verbose", verbose, "on an error, also print where in deftnn's code the failed check sits");
  // Before the subcommands are made (they inherit it): `deftnn eval MODEL
  // --verbose` works as well as `deftnn --verbose eval MODEL`.
  app.fallthrough();
  app.set_version_flag("--version", std::function<std::string()>([] {
                         return fmt::format("deftnn {} (commit {})", DEFTNN_VERSION, deftnn::bench::git_commit());
                       }));
  register_inspect_command(app);
  register_train_command(app);
  register_eval_command(app);
  register_bench_command(app);
  register_optimize_command(app);
  register_tokenize_command(app);
  register_embed_command(app);
  register_distill_embed_command(app);
  register_run_command(app);
  register_export_command(app);
  // The readers convert what they can into deftnn::Error; the later catches
  // take what slips past them, so no input ends the process by a signal.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const deftnn::Error& e) {
    const char* env = std::getenv("DEFTNN_VERBOSE");
    const bool where = verbose || (env && *env && std::string(env) != "0");
    fmt::print(stderr, "deftnn: error: {}\n", where || e.message().empty() ? e.what() : e.message().c_str());
    return 1;
  } catch (const nlohmann::json::exception& e) {
    fmt::print(stderr, "deftnn: error: malformed JSON value: {}\n", e.what());
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    fmt::print(stderr, "deftnn: error: {}\n", e.what());  // names the path(s) and the OS error
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "deftnn: error: out of host memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "deftnn: error: {}\n", e.what());
    return 1;
  } catch (...) {
    fmt::print(stderr, "deftnn: error: unknown exception\n");
    return 1;
  }
  return 0;
}
