// deftnn optimize MODEL: synapse vector elimination with approximation
// (sections 4.1 and 5.6). Builds and fine-tunes <layer, alpha> variants (and
// L1-pruned twins), composes them, measures time and validation accuracy,
// keeps the Pareto frontier and selects the point nearest --target-acc or
// --target-speedup. Writes the optimised model (selected composition
// installed, every variant stored beside it) and a report: JSON, plus PNG
// plots when python3 with matplotlib is there.
//
// With --no-finetune it is the fixed-density path instead: every eligible
// layer eliminated at the one --density (sve::eliminate: the correlation
// search or L1, at either granularity), no data, no fine-tuning, no frontier;
// only the model file is written. That is what a model without its training
// data can get (an ImageNet-sized ONNX import), e.g. to measure the export.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "core/context.h"
#include "core/output_file.h"
#include "data/image_folder.h"
#include "net/net.h"
#include "train/prepare.h"
#include "net/safetensors.h"
#include "plan/parse.h"
#include "sve/eliminate.h"
#include "tune/granularity.h"
#include "tune/optimize.h"
#include "device_option.h"
#include "script_path.h"
#include "typed_option.h"

namespace {

// The methods the optimiser's compositions can use.
deftnn::sve::Method parse_optimize_method(const std::string& name) {
  using deftnn::sve::Method;
  return deftnn::sve::parse_method(name, {Method::Sve, Method::SveLs}, "SVE method");
}

struct OptimizeCli {
  std::string model, data_dir, dataset, out, report_dir, transform = "fused";
  std::optional<deftnn::Device> device;  // auto
  deftnn::sve::Method method = deftnn::sve::Method::SveLs;
  deftnn::tune::Granularity granularity = deftnn::tune::Granularity::Tap;
  std::vector<std::string> formats = {"auto"};
  std::vector<double> alphas, densities;
  std::vector<float> mean, std;  // an image folder's normalisation (--mean, --std)
  int64_t resize = 0;            // an image folder's --resize (0: to cover the input)
  // Defaults: tune::OptimizeOptions's (optimize.h), filled in by register_optimize_command.
  double target_acc = -1, target_speedup = -1, lr = 0;
  int64_t align = 1, iterations = 0, batch = 0, val = 5000, time_batch = 0;
  int time_reps = 0, time_rounds = 0;
  int threads = 2;
  bool include_input_layer = false, no_l1 = false, quiet = false, no_paper = false, no_finetune = false;
  bool method_given = false;  // --method named (--no-finetune refuses sve-ls, which needs data)
  deftnn::tune::JointTwins joint_twins = deftnn::tune::JointTwins::L1;
  double min_layer_flops = 0.01;
  int64_t stats_images = 0, max_grid = 0;
  std::vector<int64_t> joint_iterations;
  double ridge = 0, joint_lr = 0;
  int joint_points = 0;
  std::vector<double> joint_flops;
  std::string lr_policy, joint_lr_policy;
  double distill = 0, joint_distill = 0, temperature = 0;
  uint64_t seed = 1;
};

std::string sanitize(std::string s) {
  for (char& c : s)
    if (c == '/' || c == '@') c = '.';
  return s;
}

// --no-finetune: sve::eliminate at one density over optimize's eligible
// layers (--include-input-layer, --min-layer-flops), the groups of
// --granularity, the correlation search with the paper's K/K' scaling (sve-ls
// would need the training data's input statistics). Writes the model file
// alone, its metadata "sve" saying what was done.
void run_fixed_density(const OptimizeCli& o, deftnn::Net& net, const std::string& out) {
  using namespace deftnn;
  DEFTNN_CHECK(o.densities.size() == 1,
               "optimize --no-finetune eliminates at one density: give exactly one --density (got {})",
               o.densities.size());
  DEFTNN_CHECK(!(o.method_given && o.method == sve::Method::SveLs),
               "optimize --no-finetune: --method sve-ls refits the weights from the training data's input statistics; "
               "use --method sve (the paper's K/K' scaling) or drop --no-finetune");
  auto ctx = Context::make(resolve_device(o.device));
  net.to(*ctx);
  sve::EliminateOptions eo;
  eo.density = o.densities[0];
  eo.method = sve::Method::Sve;
  eo.align = o.align;
  eo.transform = plan::parse_transform(o.transform);
  eo.layers.include_input_layer = o.include_input_layer;
  eo.layers.min_flops_share = o.min_layer_flops;
  eo.group_of = [&net, g = o.granularity](size_t i) { return tune::elimination_group(net, i, g); };
  const std::vector<sve::EliminatedLayer> done = sve::eliminate(net, *ctx, eo);
  DEFTNN_CHECK(!done.empty(), "{}: no layer is eligible for elimination (input layer excluded, --min-layer-flops {})",
               o.model, o.min_layer_flops);
  net.metadata()["sve"] = {{"fixed_density", eo.density},
                           {"method", sve::method_name(eo.method)},
                           {"granularity", tune::granularity_name(o.granularity)},
                           {"finetuned", false},
                           {"layers", sve::to_json(done)}};
  net.save(out, *ctx);
  if (!o.quiet)
    for (const auto& l : done)
      fmt::print(stderr, "[optimize] {}: kept {}/{}{}\n", l.name, l.kept, l.k,
                 l.group > 1 ? fmt::format(" ({}/{} channels)", l.kept / l.group, l.k / l.group) : "");
  fmt::print("eliminated {} layers of {} at density {} ({} granularity, no fine-tuning); model written to {}\n",
             done.size(), net.name(), eo.density, tune::granularity_name(o.granularity), out);
}

void run_optimize(const OptimizeCli& o) {
  using namespace deftnn;
  train::set_cpu_threads(o.threads);
  Net net = Net::load(o.model);
  DEFTNN_CHECK(!o.model.ends_with(".json"), "{}: optimize wants a trained model file (.safetensors), not a graph",
               o.model);
  // The three outputs are checked before the data is read and the search
  // begins (it can take many minutes).
  const std::string out = o.out.empty() ? "runs/" + net.name() + ".sve.safetensors" : o.out;
  if (auto parent = std::filesystem::path(out).parent_path(); !parent.empty()) check_writable_folder(parent.string());
  check_writable(out);
  if (o.no_finetune) return run_fixed_density(o, net, out);
  const std::string stem = out.ends_with(".safetensors") ? out.substr(0, out.size() - 12) : out;
  const std::string variants_file = stem + ".variants.safetensors";
  check_writable(variants_file);
  std::string report_dir = o.report_dir.empty() ? std::filesystem::path(out).parent_path().string() : o.report_dir;
  if (report_dir.empty()) report_dir = ".";
  check_writable_folder(report_dir);
  const std::string report = (std::filesystem::path(report_dir) / (net.name() + ".sve_report.json")).string();
  check_writable(report);
  Device dev = resolve_device(o.device);
  auto ctx = Context::make(dev);
  net.to(*ctx);
  const bool npy = o.data_dir.ends_with(".npy");
  // A folder that is none of the built-in datasets' (no --dataset named): images.
  const bool images = !npy && o.dataset.empty() && data::is_image_folder_path(o.data_dir);
  DEFTNN_CHECK(!npy || o.dataset.empty(), "optimize: --data {} is an array of inputs; --dataset names a "
               "built-in dataset instead (give one of them)", o.data_dir);
  DEFTNN_CHECK(images || (o.mean.empty() && o.std.empty() && o.resize == 0), "optimize: --mean, --std and --resize "
               "preprocess an image folder; "
               "--data {} is {}", o.data_dir.empty() ? std::string("(default)") : o.data_dir,
               npy ? "an array of inputs (preprocessed already)" : "a built-in dataset (its statistics are computed)");
  nlohmann::json stored = net.metadata().value("data", nlohmann::json());
  train::PrepareOptions popt;
  popt.dataset = !o.dataset.empty() ? o.dataset
                                    : (stored.is_object() ? stored.value("dataset", std::string("fashion-mnist"))
                                                          : std::string("fashion-mnist"));
  popt.dir = o.data_dir;
  popt.val = stored.is_object() ? stored.value("val", o.val) : o.val;
  popt.seed = stored.is_object() ? stored.value("split_seed", o.seed) : o.seed;
  // An .npy of inputs, or an image folder without class subfolders: labelled
  // by the dense model (agreement is the accuracy).
  train::PreparedData d;
  if (npy) {
    d = train::prepare_unlabelled(net, *ctx, o.data_dir, o.val, o.seed);
  } else if (images) {
    train::ImageFolderPrepare ip;
    ip.mean = o.mean, ip.std = o.std, ip.resize = o.resize, ip.progress = !o.quiet;
    d = train::prepare_image_folder(net, *ctx, o.data_dir, ip, o.val, o.seed);
  } else {
    d = train::prepare_data(net.input_shape(), net.name(), popt, stored);
  }
  const bool by_dense = npy || (images && d.info.value("labels", std::string()) == "dense top-1");
  const size_t total = size_t(d.train.size() + d.val.size() + d.test.size());
  const std::string skipped = images && d.info.value("skipped", int64_t(0)) > 0
                                  ? fmt::format(" ({} skipped: not .png, .jpg or .jpeg, or hidden)",
                                                d.info.value("skipped", int64_t(0)))
                                  : std::string();
  if (by_dense && !o.quiet)
    fmt::print(stderr, "[optimize] {}: {} {} labelled by the dense model's top-1 ({} classes){}: {} to train, "
               "{} to validate, {} to test; accuracy below means agreement with the dense model\n", o.data_dir,
               total, images ? "images" : "inputs", d.train.classes, skipped, d.train.size(), d.val.size(),
               d.test.size());
  if (images && !by_dense && !o.quiet)
    fmt::print(stderr, "[optimize] {}: {} images in {} class folders ({} ... {}){}: {} to train, {} to validate, {} "
               "to test\n", o.data_dir, total, d.train.classes, d.info["classes"].front().get<std::string>(),
               d.info["classes"].back().get<std::string>(), skipped, d.train.size(), d.val.size(), d.test.size());

  tune::OptimizeOptions opt;
  opt.alphas = o.alphas;
  opt.densities = o.densities;
  opt.align = o.align;
  opt.granularity = o.granularity;
  opt.include_input_layer = o.include_input_layer;
  opt.l1_baseline = !o.no_l1;
  opt.transform = plan::parse_transform(o.transform);
  opt.finetune.iterations = o.iterations;
  opt.finetune.batch = o.batch;
  opt.finetune.lr = o.lr;
  opt.finetune.lr_policy = o.lr_policy;
  opt.finetune.distill_weight = o.distill;
  opt.finetune.distill_temperature = o.temperature;
  opt.joint.lr_policy = o.joint_lr_policy;
  opt.joint.distill_weight = o.joint_distill;
  opt.joint.distill_temperature = o.temperature;
  opt.joint_flops = o.joint_flops;
  opt.time_rounds = o.time_rounds;
  opt.finetune.seed = o.seed;
  opt.method = o.method;
  opt.paper_baseline = !o.no_paper;
  opt.stats_images = o.stats_images;
  opt.ridge = o.ridge;
  DEFTNN_CHECK(!o.joint_iterations.empty(), "optimize: --joint-iters needs at least one value");
  opt.joint_flops_iterations = o.joint_iterations;
  opt.joint.iterations = o.joint_iterations.back();
  opt.max_grid = o.max_grid;
  opt.joint.lr = o.joint_lr;
  opt.joint.batch = o.batch;
  opt.joint.seed = o.seed;
  opt.joint_points = o.joint_points;
  opt.joint_twins = o.joint_twins;
  opt.min_layer_flops = o.min_layer_flops;
  opt.time_reps = o.time_reps;
  opt.time_batch = o.time_batch;
  // Fission formats: "auto" = Deft-16Q and fp8 e4m3 on the GPU, none on the CPU.
  // tune::optimize checks the names and refuses a list on the CPU.
  const std::vector<std::string>& ff = o.formats;
  if (ff == std::vector<std::string>{"auto"}) {
    if (ctx->is_cuda()) opt.fission_formats = plan::parse_formats({"deft16q", "fp8e4m3"});
  } else if (ff != std::vector<std::string>{"none"}) {
    opt.fission_formats = plan::parse_formats(ff);
  }
  if (o.target_acc >= 0) opt.target_acc = o.target_acc > 1 ? o.target_acc / 100 : o.target_acc;
  if (o.target_speedup > 0) opt.target_speedup = o.target_speedup;
  if (!o.quiet) opt.log = [](const std::string& s) { fmt::print(stderr, "[optimize] {}\n", s); };
  tune::OptimizeResult r = tune::optimize(net, *ctx, d, opt);

  // Model: the selected composition installed, plans and the frontier in the
  // metadata entry "sve". Every variant's weights go to a companion file
  // <stem>.variants.safetensors ("sve.<layer>.<method>.<alpha or kept>.{weight,bias}"),
  // since a model file holds exactly its graph's tensors.
  nlohmann::json variants = nlohmann::json::array();
  TensorFile vf;
  for (size_t s = 0; s < r.options.size(); ++s)
    for (size_t k = 0; k < r.options[s].size(); ++k)
      for (const auto* v : {&r.options[s][k], opt.l1_baseline && k > 0 ? &r.l1_options[s][k] : nullptr,
                            k > 0 && k < r.paper_options[s].size() && r.paper_options[s].size() > 1
                                ? &r.paper_options[s][k]
                                : nullptr}) {
        if (!v) continue;
        std::string prefix = "sve." + sanitize(v->id);
        nlohmann::json vj = v->to_json();
        vj["tensor_prefix"] = prefix;
        variants.push_back(vj);
        vf.tensors.emplace(prefix + ".weight", v->setting.weight);
        if (v->setting.bias.defined()) vf.tensors.emplace(prefix + ".bias", v->setting.bias);
      }
  // Jointly fine-tuned points: every parameter, "sve.joint.<i>.<layer>.<param>".
  {
    std::vector<std::string> names;
    for (size_t i = 0; i < net.size(); ++i)
      for (Param* p : net.layer(i).params()) names.push_back(net.layer(i).name() + "." + p->name);
    for (size_t t = 0; t < r.tuned.size(); ++t) {
      DEFTNN_CHECK(names.size() == r.tuned[t].size(), "joint point {}: {} tensors for {} parameters", t,
                   r.tuned[t].size(), names.size());
      for (size_t i = 0; i < names.size(); ++i)
        vf.tensors.emplace(fmt::format("sve.joint.{}.{}", t, names[i]), r.tuned[t][i]);
    }
  }
  nlohmann::json optimised = nlohmann::json::array();
  for (size_t i : r.optimised) optimised.push_back(r.layers[i].name);
  vf.metadata["deftnn.sve_variants"] = nlohmann::json({{"model", net.name()}, {"variants", variants}}).dump();
  write_safetensors(variants_file, vf);
  net.metadata()["sve"] = {{"variants_file", std::filesystem::path(variants_file).filename().string()},
                           {"variants", variants},
                           {"frontier", r.report["frontier"]},
                           {"selected", r.selected},
                           {"granularity", tune::granularity_name(opt.granularity)},
                           {"optimised_layers", optimised}};
  net.save(out, *ctx);

  r.report["model_file"] = out;
  write_text_atomic(report, r.report.dump(2) + "\n");

  const auto& sel = r.frontier[r.selected];
  fmt::print("optimised {}: {} variants, {} compositions, {} on the Pareto frontier ({:.0f} s)\n", net.name(),
             variants.size(), r.points.size(), r.frontier.size(), r.report["seconds"].get<double>());
  fmt::print("dense:    validation {:.2f}%, test {:.2f}%, {:.3f} ms\n", 100 * r.report["dense"]["val_acc"].get<double>(),
             100 * r.report["dense"]["test_acc"].get<double>(), r.report["dense"]["time_ms"].get<double>());
  fmt::print("selected: validation {:.2f}%, test {:.2f}%, {:.2f}x measured speedup, {:.0f}% of the GEMM FLOPs\n",
             100 * sel.val_acc, 100 * sel.test_acc, sel.speedup, 100 * sel.flops_ratio);
  fmt::print("{:>12} {:>8} {:>8} {:>8} {:>8} {:>9} {:>10} {:>12}\n", "how", "speedup", "flops", "val", "test", "L1 test",
             "paper test", "composed val");
  auto pct = [](double v) { return v < 0 ? std::string("-") : fmt::format("{:.2f}%", 100 * v); };
  for (const auto& p : r.frontier)
    fmt::print("{:>12} {:>7.2f}x {:>7.0f}% {:>7.2f}% {:>7.2f}% {:>9} {:>10} {:>12}\n", p.how, p.speedup,
               100 * p.flops_ratio, 100 * p.val_acc, 100 * p.test_acc, pct(p.l1_test_acc), pct(p.paper_test_acc),
               pct(p.tuned >= 0 ? p.composed_val_acc : p.val_acc));
  if (r.report.contains("cheapest_within_0.2_points")) {
    const auto& c = r.report["cheapest_within_0.2_points"];
    fmt::print("cheapest frontier point within 0.2 test points of dense: {:.0f}% of the GEMM FLOPs, test {:.2f}%\n",
               100 * c["flops_ratio"].get<double>(), 100 * c["test_acc"].get<double>());
  }
  fmt::print("model written to {} (variants in {})\nreport written to {}\n", out, variants_file, report);

  std::string script = find_repo_script("plot_report.py");
  if (script.empty() || std::system("python3 -c 'import matplotlib' >/dev/null 2>&1") != 0) {
    fmt::print("plots skipped: {}\n", script.empty() ? "scripts/plot_report.py not found"
                                                      : "python3 with matplotlib is not available (pip install matplotlib)");
    return;
  }
  std::string cmd = fmt::format("python3 '{}' '{}' '{}'", script, report, report_dir);
  if (std::system(cmd.c_str()) != 0) fmt::print("plots failed: {}\n", cmd);
}

}  // namespace

void register_optimize_command(CLI::App& app) {
  auto o = std::make_shared<OptimizeCli>();
  // Every default is tune::OptimizeOptions's, so the library and the command agree.
  const deftnn::tune::OptimizeOptions def;
  o->densities = def.densities;
  o->iterations = def.finetune.iterations;
  o->batch = def.finetune.batch;
  o->lr = def.finetune.lr;
  o->lr_policy = def.finetune.lr_policy;
  o->distill = def.finetune.distill_weight;
  o->temperature = def.joint.distill_temperature;
  o->stats_images = def.stats_images;
  o->ridge = def.ridge;
  for (size_t i = 0; i < std::max<size_t>(1, def.joint_flops.size()); ++i)
    o->joint_iterations.push_back(i < def.joint_flops_iterations.size() ? def.joint_flops_iterations[i]
                                                                        : def.joint.iterations);
  o->max_grid = def.max_grid;
  o->joint_lr = def.joint.lr;
  o->joint_lr_policy = def.joint.lr_policy;
  o->joint_distill = def.joint.distill_weight;
  o->joint_points = def.joint_points;
  o->joint_flops = def.joint_flops;
  o->joint_twins = def.joint_twins;
  o->method = def.method;
  o->granularity = def.granularity;
  o->min_layer_flops = def.min_layer_flops;
  o->time_reps = def.time_reps;
  o->time_rounds = def.time_rounds;
  o->time_batch = def.time_batch;
  auto list = [](const std::vector<double>& v) { return fmt::format("{}", fmt::join(v, ",")); };
  CLI::App* sub = app.add_subcommand("optimize", "synapse vector elimination: variants, Pareto frontier, selection, report");
  sub->add_option("model", o->model, "a trained .safetensors model file")->required();
  sub->add_option("--data", o->data_dir,
                  "dataset directory (default: $DEFTNN_DATA_DIR or the Debian package's), or an .npy of model inputs "
                  "(N, C, H, W), preprocessed, without labels: the dense model's top-1 labels them, so accuracy "
                  "is agreement with it; or a folder of .png / .jpg images: flat (labelled by the dense model, as an "
                  ".npy) or one subfolder per class (sorted names are classes 0..C-1), each image converted to the "
                  "model's channels, resized (bilinear, antialiased) to cover its H x W, centre-cropped, scaled "
                  "to [0, 1]");
  sub->add_option("--mean", o->mean, "image folder: subtract per channel after scaling to [0, 1] (one value or one "
                  "per channel; default: none)")->delimiter(',');
  sub->add_option("--std", o->std, "image folder: then divide per channel (one value or one per channel; default: "
                  "none)")->delimiter(',');
  sub->add_option("--resize", o->resize, "image folder: resize the shorter side to this many pixels, then centre-crop "
                  "the model's H x W (torchvision's Resize(S) + CenterCrop; e.g. 256 for a 224 x 224 model; default: "
                  "resize to just cover H x W)");
  sub->add_option("--dataset", o->dataset, "fashion-mnist | cifar10 (default: the one the model was trained on)");
  CLI::Option* alpha = sub->add_option("--alpha", o->alphas, "correlation thresholds per layer (default: keep-count mode at --density)")->delimiter(',');
  sub->add_option("--density", o->densities,
                  fmt::format("kept fractions per layer when no --alpha (default {})", list(def.densities)))
      ->delimiter(',');
  CLI::Option* target =
      sub->add_option("--target", o->target_acc, "target validation accuracy (fraction or percent) for the selector");
  CLI::Option* target_speedup =
      sub->add_option("--target-speedup", o->target_speedup, "target measured speedup for the selector");
  sub->add_option("--align", o->align, "round kept counts up to a multiple of this (GEMM tile K; default 1)");
  sub->add_option("--iters", o->iterations, fmt::format("fine-tuning SGD iterations per variant (default {})", o->iterations));
  sub->add_option("--batch", o->batch, fmt::format("fine-tuning batch, per variant and joint (default {})", o->batch));
  sub->add_option("--lr", o->lr, fmt::format("per-variant fine-tuning learning rate (default {})", o->lr));
  sub->add_option("--lr-policy", o->lr_policy,
                  fmt::format("per-variant fine-tuning lr: fixed | linear (decays to 0) (default {})", o->lr_policy))
      ->check(CLI::IsMember({"fixed", "linear"}));
  sub->add_option("--distill", o->distill,
                  fmt::format("per-variant fine-tuning: weight of the dense teacher's softened outputs in the loss "
                              "(default {}; 0 = off)", o->distill));
  sub->add_option("--transform", o->transform, "fused | copy | swap: the run-time input transform")
      ->check(CLI::IsMember({"fused", "copy", "swap"}));
  sub->add_flag("--include-input-layer", o->include_input_layer, "optimise the first conv layer too");
  sub->add_option("--min-layer-flops", o->min_layer_flops,
                  fmt::format("leave layers with less than this share of the GEMM FLOPs dense (default {}; 0 = none)",
                              o->min_layer_flops));
  sub->add_flag("--no-l1", o->no_l1, "skip the L1 baseline");
  CLI::Option* method = add_typed_option(*sub, "--method", o->method, parse_optimize_method,
                   "sve-ls (ours: least-squares reconstruction, default) | sve (the paper's K/K' scaling)");
  add_typed_option(*sub, "--granularity", o->granularity, deftnn::tune::parse_granularity,
                   "tap (the paper's single synapse vectors, default) | channel (a conv's input channels as whole "
                   "groups of kh*kw vectors, a linear layer's flattened conv channels as groups of h*w; ONNX export "
                   "then drops the channels physically)");
  sub->add_flag("--no-paper", o->no_paper, "with --method sve-ls: skip the paper's variants at the same kept sets");
  sub->add_option("--stats-images", o->stats_images,
                  fmt::format("training images for sve-ls input statistics (default {})", o->stats_images));
  sub->add_option("--ridge", o->ridge, fmt::format("sve-ls ridge, relative to the mean input variance (default {})", o->ridge));
  sub->add_option("--joint-iters", o->joint_iterations,
                  fmt::format("joint fine-tuning SGD iterations, per --joint-flops cap (the last value repeats; "
                              "0 = no joint point there; default {})",
                              fmt::join(o->joint_iterations, ",")))
      ->delimiter(',');
  sub->add_option("--max-grid", o->max_grid,
                  fmt::format("measure every composition when there are at most this many, else greedy paths "
                              "(default {})", o->max_grid));
  sub->add_option("--joint-lr", o->joint_lr, fmt::format("joint fine-tuning learning rate (default {})", o->joint_lr));
  sub->add_option("--joint-lr-policy", o->joint_lr_policy,
                  fmt::format("joint fine-tuning lr: fixed | linear (decays to 0) (default {})", o->joint_lr_policy))
      ->check(CLI::IsMember({"fixed", "linear"}));
  sub->add_option("--joint-distill", o->joint_distill,
                  fmt::format("joint fine-tuning: weight of the dense teacher's softened outputs in the loss "
                              "(default {}; 0 = off)", o->joint_distill));
  sub->add_option("--temperature", o->temperature, fmt::format("distillation temperature (default {})", o->temperature));
  CLI::Option* flops = sub->add_option("--joint-flops", o->joint_flops,
                                       fmt::format("GEMM FLOPs caps choosing the joint points: per cap the most accurate "
                                                   "composition within it (default {})", list(def.joint_flops)))
                           ->delimiter(',');
  CLI::Option* points = sub->add_option(
      "--joint-points", o->joint_points,
      "instead of --joint-flops: this many joint points spread evenly over the composed frontier");
  add_typed_option(*sub, "--joint-twins", o->joint_twins, deftnn::tune::parse_joint_twins,
                   fmt::format("twins of joint points fine-tuned the same way and reported: l1 | all (L1 and paper) | "
                               "none (default {})", deftnn::tune::joint_twins_name(o->joint_twins)));
  add_device_option(*sub, o->device);
  sub->add_option("--threads", o->threads, "OpenBLAS threads (default 2)");
  sub->add_option("--format", o->formats,
                  "fission formats tried on every frontier point (GPU): auto (deft16q,fp8e4m3 on the GPU, none on "
                  "the CPU) | none | a list such as deft16q,deft8e4")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--time-reps", o->time_reps,
                  fmt::format("timed forward passes per configuration and round (default {})", o->time_reps));
  sub->add_option("--time-rounds", o->time_rounds,
                  fmt::format("interleaved timing rounds over every configuration (default {})", o->time_rounds));
  sub->add_option("--time-batch", o->time_batch, fmt::format("images per timed forward pass (default {})", o->time_batch));
  sub->add_option("--seed", o->seed, "fine-tuning seed (default 1)");
  sub->add_option("--out", o->out, "model file to write (default runs/<name>.sve.safetensors)");
  sub->add_option("--report", o->report_dir, "report directory (default: the model file's)");
  sub->add_flag("--quiet", o->quiet, "no progress output");
  sub->add_flag("--no-finetune", o->no_finetune,
                "eliminate every eligible layer at the one --density (correlation search, K/K' scaling, "
                "--granularity's groups) and write the model: no data, no fine-tuning, no frontier or report")
      ->excludes(alpha)
      ->excludes(target)
      ->excludes(target_speedup);
  sub->callback([o, flops, points, method] {
    if (points->count() && !flops->count()) o->joint_flops.clear();
    o->method_given = method->count() > 0;
    run_optimize(*o);
  });
}
