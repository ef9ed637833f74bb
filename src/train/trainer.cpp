#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>

#include "core/input_file.h"
#include "data/loader.h"
#include "layers/loss.h"
#include "train/distill.h"
#include "train/progress.h"
#include "net/safetensors.h"

namespace deftnn::train {

namespace {

constexpr const char* kStateKey = "deftnn.train_state";
constexpr const char* kMomentumPrefix = "optim.momentum.";
constexpr const char* kBestPrefix = "optim.best.";

std::vector<Param*> pointers(const std::vector<std::pair<std::string, Param*>>& named) {
  std::vector<Param*> out;
  for (const auto& [n, p] : named) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Param*>> named_params(Net& net) {
  std::vector<std::pair<std::string, Param*>> out;
  for (size_t i = 0; i < net.size(); ++i)
    for (Param* p : net.layer(i).params()) out.push_back({net.layer(i).name() + "." + p->name, p});
  return out;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

void TrainConfig::apply_json(const nlohmann::json& j) {
  if (j.is_null()) return;
  DEFTNN_CHECK(j.is_object(), "the \"train\" entry must be an object, got {}", j.dump());
  static const char* known[] = {"epochs", "batch", "lr", "base_lr", "momentum", "weight_decay", "lr_policy",
                                "gamma", "stepsize", "stepvalues", "power", "max_iter", "seed", "keep",
                                "drop_last", "val", "dataset", "note"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok |= it.key() == k;
    DEFTNN_CHECK(ok, "unknown key \"{}\" in the \"train\" entry", it.key());
  }
  if (j.contains("epochs")) epochs = j["epochs"].get<int64_t>();
  if (j.contains("batch")) batch = j["batch"].get<int64_t>();
  if (j.contains("lr")) lr.base_lr = j["lr"].get<double>();
  if (j.contains("base_lr")) lr.base_lr = j["base_lr"].get<double>();
  if (j.contains("momentum")) momentum = j["momentum"].get<float>();
  if (j.contains("weight_decay")) weight_decay = j["weight_decay"].get<float>();
  if (j.contains("lr_policy")) lr.policy = j["lr_policy"].get<std::string>();
  if (j.contains("gamma")) lr.gamma = j["gamma"].get<double>();
  if (j.contains("stepsize")) lr.stepsize = j["stepsize"].get<int64_t>();
  if (j.contains("stepvalues")) lr.stepvalues = j["stepvalues"].get<std::vector<int64_t>>();
  if (j.contains("power")) lr.power = j["power"].get<double>();
  if (j.contains("max_iter")) lr.max_iter = j["max_iter"].get<int64_t>();
  if (j.contains("seed")) seed = j["seed"].get<uint64_t>();
  if (j.contains("drop_last")) drop_last = j["drop_last"].get<bool>();
  if (j.contains("keep")) {
    std::string k = j["keep"].get<std::string>();
    DEFTNN_CHECK(k == "best" || k == "last", "\"keep\" must be \"best\" or \"last\", got \"{}\"", k);
    keep_best = k == "best";
  }
}

EvalResult evaluate(Net& net, Context& ctx, const data::Dataset& ds, int64_t batch) {
  data::Loader loader(ds, {.batch = batch, .shuffle = false, .drop_last = false, .seed = 0});
  Tensor x, y;
  double loss_sum = 0;
  int64_t correct = 0, count = 0;
  while (loader.next(ctx, x, y)) {
    const Tensor& logits = net.forward(ctx, x, /*train=*/false);
    int64_t b = y.dim(0);
    float loss = softmax_cross_entropy(ctx, logits, y, nullptr, &correct);
    loss_sum += double(loss) * double(b);
    count += b;
  }
  EvalResult r;
  r.count = count;
  r.accuracy = count ? double(correct) / double(count) : 0;
  r.loss = count ? loss_sum / double(count) : 0;
  return r;
}

nlohmann::json EpochRecord::to_json() const {
  return {{"epoch", epoch},         {"iteration", iteration}, {"lr", lr},           {"train_loss", train_loss},
          {"train_acc", train_acc}, {"val_loss", val_loss},   {"val_acc", val_acc}, {"seconds", seconds}};
}

EpochRecord EpochRecord::from_json(const nlohmann::json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch");
  r.iteration = j.at("iteration");
  r.lr = j.at("lr");
  r.train_loss = j.at("train_loss");
  r.train_acc = j.at("train_acc");
  r.val_loss = j.at("val_loss");
  r.val_acc = j.at("val_acc");
  r.seconds = j.at("seconds");
  return r;
}

Trainer::Trainer(Net& net, Context& ctx, TrainConfig cfg)
    : net_(net), ctx_(ctx), cfg_(std::move(cfg)), sgd_({}, cfg_.momentum, cfg_.weight_decay) {
  auto named = named_params(net);
  for (const auto& [n, p] : named) params_.push_back({n, p});
  sgd_ = Sgd(pointers(named), cfg_.momentum, cfg_.weight_decay);
  sgd_.init_state(ctx_);
  DEFTNN_CHECK(cfg_.epochs >= 0 && cfg_.batch > 0, "train: {} epochs of batch {}", cfg_.epochs, cfg_.batch);
  DEFTNN_CHECK(net.device() == ctx.device(), "train: the net is on the {}, the context on the {}",
               device_name(net.device()), device_name(ctx.device()));
}

void Trainer::snapshot_best() {
  best_.clear();
  for (const auto& np : params_) best_.push_back(np.param->value.to(Device::CPU, ctx_));
}

void Trainer::restore_best() {
  if (best_.size() != params_.size()) return;
  for (size_t i = 0; i < params_.size(); ++i) params_[i].param->value.copy_from(best_[i], ctx_);
  for (size_t i = 0; i < net_.size(); ++i) net_.layer(i).on_params_changed();
  ctx_.synchronize();
}

const std::vector<EpochRecord>& Trainer::fit(const data::Dataset& train, const data::Dataset* val) {
  DEFTNN_CHECK(train.images.dtype() == DType::F32 || train.images.dtype() == DType::U8,
               "train: images of {} are {}", train.name, dtype_name(train.images.dtype()));
  Shape want = net_.input_shape(), got = train.image_shape();
  DEFTNN_CHECK(want == got, "train: model {} takes input {} but dataset {} has images {}", net_.name(),
               shape_str(want), train.name, shape_str(got));
  data::Loader loader(train, {.batch = cfg_.batch, .shuffle = true, .drop_last = cfg_.drop_last, .seed = cfg_.seed});
  int64_t per_epoch = loader.batches_per_epoch();
  DEFTNN_CHECK(per_epoch > 0, "train: {} images make no batch of {}", train.size(), cfg_.batch);
  LrPolicy policy = cfg_.lr;
  if (policy.policy == "poly" && policy.max_iter == 0) policy.max_iter = cfg_.epochs * per_epoch;
  policy.validate();
  const bool distill = cfg_.distill.on();
  if (distill) {
    const Tensor& tl = cfg_.distill.teacher_logits;
    DEFTNN_CHECK(tl.ndim() == 2 && tl.dim(0) == train.size() && tl.dtype() == DType::F32 && tl.device() == Device::CPU,
                 "train: distillation wants the teacher's logits as ({}, C) F32 on the CPU, one row per image of {}, "
                 "got {} {} on the {}",
                 train.size(), train.name, dtype_name(tl.dtype()), shape_str(tl.shape()), device_name(tl.device()));
  }

  Progress progress(cfg_.progress, cfg_.epochs, per_epoch, iteration_);
  if (epoch_ == 0)
    progress.line(fmt::format("training {} on {} ({} images, {} batches of {}), lr {}, momentum {}, "
                              "weight decay {}, seed {}, {} epochs on the {}{}",
                              net_.name(), train.name, train.size(), per_epoch, cfg_.batch, policy.describe(),
                              cfg_.momentum, cfg_.weight_decay, cfg_.seed, cfg_.epochs, device_name(ctx_.device()),
                              distill ? fmt::format(", distilled (temperature {}, weight {})", cfg_.distill.temperature,
                                                    cfg_.distill.weight)
                                      : ""));
  else if (epoch_ < cfg_.epochs)
    progress.line(fmt::format("resuming {} at epoch {} (iteration {})", net_.name(), epoch_ + 1, iteration_));
  else
    progress.line(fmt::format("{} has already trained {} of {} epochs: nothing to do", net_.name(), epoch_, cfg_.epochs));

  Tensor x, y, dlogits, teacher_host, teacher_dev;
  std::vector<int64_t> order;
  while (epoch_ < cfg_.epochs) {
    auto t0 = std::chrono::steady_clock::now();
    loader.seek(epoch_, 0);
    if (distill) order = loader.epoch_order(epoch_);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    float lr = 0;
    for (int64_t begin = loader.batch_index() * cfg_.batch; loader.next(ctx_, x, y); begin += cfg_.batch) {
      lr = policy.rate(iteration_);
      const Tensor& logits = net_.forward(ctx_, x, /*train=*/true);
      if (!dlogits.defined() || dlogits.shape() != logits.shape() || dlogits.device() != logits.device())
        dlogits = Tensor::empty(logits.shape(), DType::F32, ctx_.device());
      int64_t b = y.dim(0);
      float loss = 0;
      if (distill) {
        // The teacher's rows for this batch's images (the loader's order).
        teacher_host = gather_rows(cfg_.distill.teacher_logits,
                                   std::vector<int64_t>(order.begin() + begin, order.begin() + begin + b));
        DEFTNN_CHECK(teacher_host.shape() == logits.shape(), "train: teacher logits {} for student logits {}",
                     shape_str(teacher_host.shape()), shape_str(logits.shape()));
        const Tensor* teacher = &teacher_host;
        if (ctx_.is_cuda()) {
          if (!teacher_dev.defined() || teacher_dev.shape() != teacher_host.shape())
            teacher_dev = Tensor::empty(teacher_host.shape(), DType::F32, Device::CUDA);
          teacher_dev.copy_from(teacher_host, ctx_);
          teacher = &teacher_dev;
        }
        loss = float(distillation_loss(ctx_, logits, y, *teacher, cfg_.distill.temperature, cfg_.distill.weight,
                                       &dlogits, &correct)
                         .loss);
      } else {
        loss = softmax_cross_entropy(ctx_, logits, y, &dlogits, &correct);
      }
      DEFTNN_CHECK(std::isfinite(loss), "train: loss became {} at iteration {} (epoch {}); lower the learning rate",
                   loss, iteration_, epoch_ + 1);
      net_.backward(ctx_, dlogits);
      sgd_.step(ctx_, lr);
      ++iteration_;
      loss_sum += double(loss) * double(b);
      seen += b;
      progress.update(epoch_, iteration_, loss_sum / double(seen), double(correct) / double(seen), b);
    }
    EpochRecord rec;
    rec.epoch = epoch_ + 1;
    rec.iteration = iteration_;
    rec.lr = lr;
    rec.train_loss = loss_sum / double(seen);
    rec.train_acc = double(correct) / double(seen);
    if (val && val->size() > 0) {
      EvalResult v = evaluate(net_, ctx_, *val, cfg_.eval_batch);
      rec.val_loss = v.loss;
      rec.val_acc = v.accuracy;
    }
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    history_.push_back(rec);
    ++epoch_;
    bool best = val && val->size() > 0 && rec.val_acc > best_val_acc_;
    if (best) {
      best_val_acc_ = rec.val_acc;
      best_epoch_ = rec.epoch;
      if (cfg_.keep_best) snapshot_best();
    }
    std::string val_text = val && val->size() > 0
                               ? fmt::format("  val loss {:.4f} acc {:.2f}%{}", rec.val_loss, 100 * rec.val_acc,
                                             best ? " *" : "")
                               : "";
    progress.line(fmt::format("epoch {}/{}  it {}  lr {:.5g}  loss {:.4f}  acc {:.2f}%{}  {:.0f} img/s  {:.1f} s",
                              rec.epoch, cfg_.epochs, rec.iteration, rec.lr, rec.train_loss, 100 * rec.train_acc,
                              val_text, double(seen) / rec.seconds, rec.seconds));
    if (!cfg_.checkpoint.empty()) save_checkpoint(cfg_.checkpoint);
  }
  if (cfg_.keep_best && !best_.empty() && best_epoch_ != epoch_) {
    restore_best();
    progress.line(fmt::format("keeping the weights of epoch {} (best validation accuracy {:.2f}%)", best_epoch_,
                              100 * best_val_acc_));
  }
  return history_;
}

void Trainer::save_checkpoint(const std::string& path) const {
  // The Net writes its model file; the optimizer state joins it in one file,
  // written atomically, so a checkpoint is never half old and half new.
  TensorFile f = net_.to_tensor_file();
  auto& hist = const_cast<Sgd&>(sgd_).history();
  for (size_t i = 0; i < params_.size(); ++i) {
    if (hist[i].defined()) f.tensors[kMomentumPrefix + params_[i].name] = hist[i];
    if (best_.size() == params_.size()) f.tensors[kBestPrefix + params_[i].name] = best_[i];
  }
  nlohmann::json hj = nlohmann::json::array();
  for (const auto& r : history_) hj.push_back(r.to_json());
  nlohmann::json state = {{"format", 1},
                          {"epoch", epoch_},
                          {"iteration", iteration_},
                          {"seed", cfg_.seed},
                          {"batch", cfg_.batch},
                          {"epochs", cfg_.epochs},
                          {"best_val_acc", best_val_acc_},
                          {"best_epoch", best_epoch_},
                          {"history", hj}};
  f.metadata[kStateKey] = state.dump();
  write_safetensors(path, f, &ctx_);
}

bool Trainer::is_checkpoint(const std::string& path) {
  if (!path.ends_with(".safetensors")) return false;
  return read_safetensors(path).metadata.count(kStateKey) > 0;
}

Net Trainer::load_checkpoint_net(const std::string& path) {
  TensorFile f = read_safetensors(path);
  TensorFile model;
  model.metadata = f.metadata;
  model.metadata.erase(kStateKey);
  for (auto& [name, t] : f.tensors)
    if (!starts_with(name, "optim.")) model.tensors[name] = t;
  return Net::from_tensor_file(model, path);  // nothing written beside a read-only input
}

void Trainer::resume(const std::string& path) {
  TensorFile f = read_safetensors(path);
  DEFTNN_CHECK(f.metadata.count(kStateKey), "{}: not a training checkpoint (no {} metadata)", path, kStateKey);
  const nlohmann::json state = parse_json(f.metadata[kStateKey], DEFTNN_FORMAT("{}: metadata {}", path, kStateKey));
  uint64_t seed = 0;
  int64_t batch = 0;
  // nlohmann converts 2.5 to 2, -1 to a huge seed and 1e300 to an undefined
  // integer: the integer fields must be integers, the counters not negative.
  auto integer = [&](const char* key, bool non_negative) {
    const nlohmann::json& v = state.at(key);
    DEFTNN_CHECK(v.is_number_integer() && (!non_negative || v.is_number_unsigned() || v.get<int64_t>() >= 0),
                 "{}: metadata {} is not a training state: '{}' must be an integer{}, got {}", path, kStateKey, key,
                 non_negative ? " >= 0" : "", json_excerpt(v));
    return v;
  };
  try {  // a missing or mistyped field is a damaged checkpoint, named as such
    DEFTNN_CHECK(state.is_object(), "{}: metadata {} is not a training state: not a JSON object", path, kStateKey);
    epoch_ = integer("epoch", true).get<int64_t>();
    iteration_ = integer("iteration", true).get<int64_t>();
    best_val_acc_ = state.at("best_val_acc");
    best_epoch_ = integer("best_epoch", false).get<int64_t>();
    DEFTNN_CHECK(state.at("history").is_array(), "{}: metadata {} is not a training state: 'history' must be an array",
                 path, kStateKey);
    history_.clear();
    for (const auto& r : state.at("history")) history_.push_back(EpochRecord::from_json(r));
    seed = integer("seed", true).get<uint64_t>();
    batch = integer("batch", true).get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    DEFTNN_FAIL("{}: metadata {} is not a training state: {}", path, kStateKey, e.what());
  }
  DEFTNN_CHECK(epoch_ >= 0 && iteration_ >= 0, "{}: metadata {}: epoch {} and iteration {} must not be negative",
               path, kStateKey, epoch_, iteration_);
  if (seed != cfg_.seed || batch != cfg_.batch)
    fmt::print(stderr, "deftnn: warning: resuming {} (seed {}, batch {}) with seed {}, batch {}\n", path, seed,
               batch, cfg_.seed, cfg_.batch);
  auto& hist = sgd_.history();
  best_.clear();
  for (size_t i = 0; i < params_.size(); ++i) {
    const Param* p = params_[i].param;
    if (auto mi = f.tensors.find(kMomentumPrefix + params_[i].name); mi != f.tensors.end()) {
      const Tensor* m = &mi->second;
      DEFTNN_CHECK(m->shape() == p->value.shape() && m->dtype() == p->value.dtype(),
                   "{}: momentum of {} is {} {}, the parameter {} {}", path, params_[i].name, dtype_name(m->dtype()),
                   shape_str(m->shape()), dtype_name(p->value.dtype()), shape_str(p->value.shape()));
      hist[i] = m->to(ctx_.device(), ctx_);
    } else {
      DEFTNN_CHECK(!p->trainable, "{}: no momentum buffer for {}", path, params_[i].name);
    }
    if (auto bi = f.tensors.find(kBestPrefix + params_[i].name); bi != f.tensors.end()) {
      // restore_best copies these over the parameters: a wrong size would overrun them.
      DEFTNN_CHECK(bi->second.shape() == p->value.shape() && bi->second.dtype() == p->value.dtype(),
                   "{}: best weights of {} are {} {}, the parameter {} {}", path, params_[i].name,
                   dtype_name(bi->second.dtype()), shape_str(bi->second.shape()), dtype_name(p->value.dtype()),
                   shape_str(p->value.shape()));
      best_.push_back(bi->second);
    }
  }
  if (best_.size() != params_.size()) best_.clear();
  ctx_.synchronize();
}

}  // namespace deftnn::train
