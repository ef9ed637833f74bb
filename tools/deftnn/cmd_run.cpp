// deftnn run MODEL --input X.npy --output Y.npy: one forward pass of any
// model the engine loads (a graph file with seeded random weights, a
// safetensors model file, an ONNX model) on a float .npy array, the first
// graph output written atomically as a float32 .npy.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <memory>
#include <optional>

#include "core/context.h"
#include "core/error.h"
#include "device_option.h"
#include "net/net.h"
#include "net/npy.h"
#include "output_path.h"
#include "plan/apply.h"
#include "plan_options.h"
#include "train/prepare.h"

namespace {

struct RunArgs {
  std::string model, input, output;
  std::optional<deftnn::Device> device;  // auto
  uint64_t seed = 1;
  int threads = 2;
  deftnn::plan::PlanFlags plan;
};

void run_run(const RunArgs& a) {
  using namespace deftnn;
  check_writable(a.output);
  train::set_cpu_threads(a.threads);
  Net net = Net::load(a.model);
  if (a.model.ends_with(".json")) {
    fmt::print(stderr, "deftnn: warning: {} is a graph: running random weights (seed {})\n", a.model, a.seed);
    net.init(a.seed);
  }
  DEFTNN_CHECK(net.input_names().size() == 1, "{}: the graph has {} inputs ({}); run feeds one (--input)", a.model,
               net.input_names().size(), fmt::join(net.input_names(), ", "));
  const Tensor x = read_npy(a.input);
  const Shape want = net.tensor_shape(net.input_names()[0], x.ndim() > 0 ? x.dim(0) : 1);
  DEFTNN_CHECK(x.shape() == want, "{}: array of shape {}, but {} takes {} (a batch of any size)", a.input,
               shape_str(x.shape()), a.model, shape_str(want));
  const Device dev = resolve_device(a.device);
  auto ctx = Context::make(dev);
  plan::apply_plan(net, plan::from_flags(a.plan, plan::plan_of(net)), dev);
  net.to(*ctx);
  const Tensor x_dev = x.to(dev, *ctx);
  const std::vector<Tensor> ys = net.forward(*ctx, std::vector<Tensor>{x_dev}, false);
  const Tensor y = ys[0].to(Device::CPU, *ctx);
  ctx->synchronize();
  write_npy(a.output, y);
  if (ys.size() > 1)
    fmt::print(stderr, "deftnn: note: {} has {} outputs; wrote the first, '{}'\n", a.model, ys.size(),
               net.output_names()[0]);
  fmt::print("wrote {} {} ({}) to {}\n", net.output_names()[0], shape_str(y.shape()), device_name(dev), a.output);
}

}  // namespace

void register_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* sub = app.add_subcommand("run", "one forward pass on a .npy array (graph, model file or ONNX model), the "
                                            "output written as a float32 .npy");
  sub->add_option("model", a->model, "graph file (.json), model file (.safetensors) or ONNX model (.onnx)")->required();
  sub->add_option("--input", a->input, "the input array (.npy, float32 or float64, batch first)")->required();
  sub->add_option("--output", a->output, "the .npy to write (float32), written atomically")->required();
  add_device_option(*sub, a->device);
  sub->add_option("--seed", a->seed, "seed of the random weights of a graph file (default 1)");
  sub->add_option("--threads", a->threads, "OpenBLAS threads (default 2)");
  add_plan_options(*sub, a->plan);
  sub->callback([a] { run_run(*a); });
}
