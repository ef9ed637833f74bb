// deftnn train MODEL: trains a graph (.json, fresh seeded weights) or a model
// file (.safetensors, fine-tuning) on Fashion-MNIST or CIFAR-10, then prints
// the test accuracy. Defaults come from the graph's optional "train" object;
// flags override them.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "core/context.h"
#include "core/output_file.h"
#include "device_option.h"
#include "net/net.h"
#include "train/prepare.h"
#include "train/trainer.h"

namespace {

struct TrainOptions {
  std::optional<deftnn::Device> device;  // auto
  std::string model, data_dir, dataset, out, checkpoint, resume, lr_policy, keep;
  int64_t epochs = 0, batch = 0, val = 5000, stepsize = 0, max_iter = 0;
  double lr = 0, momentum = 0, weight_decay = 0, gamma = 0, power = 0;
  std::vector<int64_t> stepvalues;
  uint64_t seed = 1;
  int threads = 2;
  bool quiet = false;
  std::map<std::string, CLI::Option*> given;
  bool has(const std::string& k) const { return given.at(k)->count() > 0; }
};

nlohmann::json train_defaults(const std::string& model_path, const deftnn::Net& net) {
  if (model_path.ends_with(".json")) {
    std::ifstream in(model_path);
    DEFTNN_CHECK(in.good(), "{}: cannot open", model_path);
    nlohmann::json g;
    try {
      g = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      DEFTNN_FAIL("{}: bad JSON: {}", model_path, e.what());
    }
    return g.value("train", nlohmann::json());
  }
  return net.metadata().value("train", nlohmann::json());
}

void run_train(const TrainOptions& o) {
  using namespace deftnn;
  train::set_cpu_threads(o.threads);
  bool from_graph = o.model.ends_with(".json");
  Net net = o.resume.empty() ? Net::load(o.model) : train::Trainer::load_checkpoint_net(o.resume);
  nlohmann::json defaults = train_defaults(o.model, net);
  if (!defaults.is_object()) defaults = nlohmann::json::object();

  train::TrainConfig cfg;
  cfg.weight_decay = 5e-4f;
  cfg.lr.policy = "inv";
  cfg.lr.gamma = 1e-4;
  cfg.lr.power = 0.75;
  cfg.apply_json(defaults);
  if (o.has("--epochs")) cfg.epochs = o.epochs;
  if (o.has("--batch")) cfg.batch = o.batch;
  if (o.has("--lr")) cfg.lr.base_lr = o.lr;
  if (o.has("--momentum")) cfg.momentum = float(o.momentum);
  if (o.has("--weight-decay")) cfg.weight_decay = float(o.weight_decay);
  if (o.has("--lr-policy")) cfg.lr.policy = o.lr_policy;
  if (o.has("--gamma")) cfg.lr.gamma = o.gamma;
  if (o.has("--power")) cfg.lr.power = o.power;
  if (o.has("--stepsize")) cfg.lr.stepsize = o.stepsize;
  if (o.has("--stepvalues")) cfg.lr.stepvalues = o.stepvalues;
  if (o.has("--max-iter")) cfg.lr.max_iter = o.max_iter;
  if (o.has("--seed")) cfg.seed = o.seed;
  if (o.has("--keep")) cfg.keep_best = o.keep == "best";
  cfg.progress = !o.quiet;

  // The outputs are checked before the data is read and the work begins.
  std::string out = o.out.empty() ? "runs/" + net.name() + ".safetensors" : o.out;
  if (auto parent = std::filesystem::path(out).parent_path(); !parent.empty()) check_writable_folder(parent.string());
  check_writable(out);
  std::string stem = out.ends_with(".safetensors") ? out.substr(0, out.size() - 12) : out;
  cfg.checkpoint = o.checkpoint.empty() ? stem + ".ckpt.safetensors" : o.checkpoint;
  if (cfg.checkpoint == "none") cfg.checkpoint.clear();
  if (!cfg.checkpoint.empty()) check_writable(cfg.checkpoint);

  train::PrepareOptions popt;
  popt.dataset = o.has("--dataset") ? o.dataset : defaults.value("dataset", std::string("fashion-mnist"));
  popt.dir = o.data_dir;
  popt.val = o.has("--val") ? o.val : defaults.value("val", int64_t(5000));
  popt.seed = cfg.seed;
  // Normalisation statistics are those of the model being fine-tuned or resumed, if any.
  bool fresh = from_graph && o.resume.empty();
  nlohmann::json stored = fresh ? nlohmann::json() : net.metadata().value("data", nlohmann::json());
  train::PreparedData d = train::prepare_data(net.input_shape(), net.name(), popt, stored);

  if (from_graph && o.resume.empty()) net.init(cfg.seed);
  auto ctx = Context::make(resolve_device(o.device));
  net.to(*ctx);

  // Recorded before training so that every checkpoint carries them too.
  net.metadata()["data"] = d.info;
  if (!defaults.empty()) net.metadata()["train"] = defaults;
  train::Trainer trainer(net, *ctx, cfg);
  if (!o.resume.empty()) trainer.resume(o.resume);
  auto t0 = std::chrono::steady_clock::now();
  trainer.fit(d.train, d.val.size() > 0 ? &d.val : nullptr);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  train::EvalResult test = train::evaluate(net, *ctx, d.test);
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& r : trainer.history()) hist.push_back(r.to_json());
  net.metadata()["training"] = {{"epochs", cfg.epochs},
                                {"batch", cfg.batch},
                                {"lr_policy", cfg.lr.describe()},
                                {"momentum", cfg.momentum},
                                {"weight_decay", cfg.weight_decay},
                                {"seed", cfg.seed},
                                {"device", device_name(ctx->device())},
                                {"threads", o.threads},
                                {"best_epoch", trainer.best_epoch()},
                                {"best_val_acc", trainer.best_val_acc()},
                                {"test_acc", test.accuracy},
                                {"test_loss", test.loss},
                                {"seconds", seconds},
                                {"history", hist}};
  net.save(out);
  fmt::print("trained {} in {}: {} epochs, {:.1f} s; model written to {}\n", net.name(), popt.dataset, cfg.epochs,
             seconds, out);
  fmt::print("test accuracy: {:.2f}% (loss {:.4f}, {} images)\n", 100 * test.accuracy, test.loss, test.count);
}

}  // namespace

void register_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* sub = app.add_subcommand("train", "train a model (graph .json or model .safetensors) and report test accuracy");
  sub->add_option("model", o->model, "models/<name>.json (fresh weights) or a .safetensors model file")->required();
  auto& g = o->given;
  g["--data"] = sub->add_option("--data", o->data_dir, "dataset directory (default: $DEFTNN_DATA_DIR or the Debian package's)");
  g["--dataset"] = sub->add_option("--dataset", o->dataset, "fashion-mnist | cifar10 (default: the model's, else fashion-mnist)");
  g["--epochs"] = sub->add_option("--epochs", o->epochs, "epochs");
  g["--batch"] = sub->add_option("--batch", o->batch, "batch size");
  g["--lr"] = sub->add_option("--lr", o->lr, "base learning rate");
  g["--momentum"] = sub->add_option("--momentum", o->momentum, "SGD momentum");
  g["--weight-decay"] = sub->add_option("--weight-decay", o->weight_decay, "L2 weight decay");
  g["--lr-policy"] = sub->add_option("--lr-policy", o->lr_policy, "fixed | step | multistep | exp | inv | poly | sigmoid");
  g["--gamma"] = sub->add_option("--gamma", o->gamma, "gamma of step, multistep, exp, inv, sigmoid");
  g["--power"] = sub->add_option("--power", o->power, "power of inv, poly");
  g["--stepsize"] = sub->add_option("--stepsize", o->stepsize, "iterations per step (step, sigmoid)");
  g["--stepvalues"] = sub->add_option("--stepvalues", o->stepvalues, "iterations of the steps (multistep)")->delimiter(',');
  g["--max-iter"] = sub->add_option("--max-iter", o->max_iter, "poly's max_iter (default: all iterations of the run)");
  g["--seed"] = sub->add_option("--seed", o->seed, "seed of weights, validation split and data order");
  g["--device"] = add_device_option(*sub, o->device);
  g["--val"] = sub->add_option("--val", o->val, "validation images held out of the training set (default 5000)");
  g["--out"] = sub->add_option("--out", o->out, "model file to write (default runs/<name>.safetensors)");
  g["--checkpoint"] = sub->add_option("--checkpoint", o->checkpoint, "checkpoint written every epoch (default <out>.ckpt.safetensors; none: off)");
  g["--resume"] = sub->add_option("--resume", o->resume, "resume from a checkpoint");
  g["--keep"] = sub->add_option("--keep", o->keep, "best | last: weights kept at the end")->check(CLI::IsMember({"best", "last"}));
  g["--threads"] = sub->add_option("--threads", o->threads, "OpenBLAS threads (fixed for reproducible CPU runs; default 2)");
  g["--quiet"] = sub->add_flag("--quiet", o->quiet, "no progress output");
  sub->callback([o] { run_train(*o); });
}
