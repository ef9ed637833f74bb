// deftnn eval MODEL: test accuracy and loss of a model file (or checkpoint),
// with the padding and normalisation recorded when it was trained.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <optional>

#include "core/context.h"
#include "core/error.h"
#include "device_option.h"
#include "net/net.h"
#include "plan/apply.h"
#include "plan_options.h"
#include "train/prepare.h"
#include "train/trainer.h"

namespace {

// A model whose weights hold NaN or Inf cannot give a meaningful accuracy:
// refuse it, naming the first such tensor.
void check_finite_weights(deftnn::Net& net, const std::string& path) {
  for (size_t i = 0; i < net.size(); ++i)
    for (const deftnn::Param* p : net.layer(i).params()) {
      const deftnn::Tensor& t = p->value;
      if (!t.defined() || t.dtype() != deftnn::DType::F32 || t.device() != deftnn::Device::CPU) continue;
      const float* v = t.data<float>();
      for (int64_t k = 0; k < t.numel(); ++k)
        DEFTNN_CHECK(std::isfinite(v[k]), "{}: tensor '{}.{}' holds {} at element {}; the model is damaged", path,
                     net.layer(i).name(), p->name, v[k], k);
    }
}

struct EvalOptions {
  std::string model, data_dir, dataset;
  std::optional<deftnn::Device> device;  // auto
  int64_t batch = 256;
  int threads = 2;
  deftnn::plan::PlanFlags plan;  // applied over the plan the model was saved with
  CLI::Option* dataset_opt = nullptr;
};

void run_eval(const EvalOptions& o) {
  using namespace deftnn;
  train::set_cpu_threads(o.threads);
  bool checkpoint = train::Trainer::is_checkpoint(o.model);
  Net net = checkpoint ? train::Trainer::load_checkpoint_net(o.model) : Net::load(o.model);
  if (o.model.ends_with(".json")) {
    fmt::print(stderr, "deftnn: warning: {} is a graph: evaluating untrained random weights\n", o.model);
    net.init(1);
  }
  check_finite_weights(net, o.model);
  nlohmann::json stored = net.metadata().value("data", nlohmann::json::object());
  train::PrepareOptions popt;
  popt.dataset = o.dataset_opt->count() ? o.dataset : stored.value("dataset", std::string("fashion-mnist"));
  popt.dir = o.data_dir;
  popt.with_train = false;
  popt.val = stored.value("val", int64_t(5000));
  popt.seed = stored.value("split_seed", uint64_t(1));
  train::PreparedData d = train::prepare_data(net.input_shape(), net.name(), popt, stored);
  Device dev = resolve_device(o.device);
  auto ctx = Context::make(dev);
  plan::apply_plan(net, plan::from_flags(o.plan, plan::plan_of(net)), dev);
  net.to(*ctx);
  train::EvalResult r = train::evaluate(net, *ctx, d.test, o.batch);
  DEFTNN_CHECK(std::isfinite(r.loss), "{}: the test loss is {} (accuracy {:.2f}%); the model's outputs are not finite",
               o.model, r.loss, 100 * r.accuracy);
  fmt::print("{} on {} test ({} images, {}): accuracy {:.2f}%, loss {:.4f}\n", net.name(), popt.dataset, r.count,
             device_name(dev), 100 * r.accuracy, r.loss);
  fmt::print("test accuracy: {:.2f}%\ntest loss: {:.4f}\n", 100 * r.accuracy, r.loss);
}

}  // namespace

void register_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* sub = app.add_subcommand("eval", "test accuracy and loss of a model file");
  sub->add_option("model", o->model, "a .safetensors model file (or checkpoint)")->required();
  sub->add_option("--data", o->data_dir, "dataset directory (default: $DEFTNN_DATA_DIR or the Debian package's)");
  o->dataset_opt = sub->add_option("--dataset", o->dataset, "fashion-mnist | cifar10 (default: the one it was trained on)");
  add_device_option(*sub, o->device);
  sub->add_option("--batch", o->batch, "batch size");
  sub->add_option("--threads", o->threads, "OpenBLAS threads (default 2)");
  add_plan_options(*sub, o->plan);
  sub->callback([o] { run_eval(*o); });
}
