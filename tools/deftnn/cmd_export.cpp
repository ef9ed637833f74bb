// deftnn export MODEL --onnx OUT.onnx: any model the engine loads (a graph
// file with seeded random weights, a safetensors model file, SVE-optimised
// ones included, an ONNX model) written as a standard ONNX graph that ONNX
// Runtime, TensorRT or Triton run; eliminated synapse vectors make its
// tensors smaller (export/onnx_export.h). Written atomically.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <memory>

#include "export/onnx_export.h"
#include "net/net.h"
#include "output_path.h"

namespace {

struct ExportArgs {
  std::string model, onnx;
  uint64_t seed = 1;
};

void run_export(const ExportArgs& a) {
  using namespace deftnn;
  check_writable(a.onnx);
  Net net = Net::load(a.model);
  if (a.model.ends_with(".json")) {
    fmt::print(stderr, "deftnn: warning: {} is a graph: exporting random weights (seed {})\n", a.model, a.seed);
    net.init(a.seed);
  }
  const onnx_export::ExportSummary s = onnx_export::export_onnx(net, a.model, a.onnx);
  fmt::print("wrote {} ({} nodes, {} parameters of the dense model's {}, {:.1f}%; {} kept-input gathers, {} producers "
             "shrunk)\n",
             a.onnx, s.nodes, s.parameters, s.dense_parameters,
             s.dense_parameters ? 100.0 * double(s.parameters) / double(s.dense_parameters) : 100.0, s.gathers,
             s.shrunk_producers);
}

}  // namespace

void register_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* sub = app.add_subcommand("export", "write a model (graph, model file, SVE-optimised model or ONNX) as a "
                                               "standard ONNX graph, eliminated inputs physically removed");
  sub->add_option("model", a->model, "graph file (.json), model file (.safetensors) or ONNX model (.onnx)")->required();
  sub->add_option("--onnx", a->onnx, "the .onnx file to write (opset 17; 20 for a net with a GELU), written atomically")->required();
  sub->add_option("--seed", a->seed, "seed of the random weights of a graph file (default 1, as run's)");
  sub->callback([a] { run_export(*a); });
}
