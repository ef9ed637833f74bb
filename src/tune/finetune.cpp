#include "tune/finetune.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/timing.h"
#include "train/distill.h"
#include "train/trainer.h"

namespace deftnn::tune {

double finetune(Net& net, Context& ctx, const data::Dataset& train, const FinetuneOptions& ft, uint64_t salt) {
  const Stopwatch clock;
  if (ft.iterations <= 0) return 0;
  // ft.iterations batches of images drawn with replacement: epochs of at
  // most the training split's size, so that the drawn subset is never larger
  // than the split itself.
  const int64_t epochs = (ft.iterations * ft.batch + train.size() - 1) / train.size();
  const int64_t per_epoch = (ft.iterations + epochs - 1) / epochs;  // iterations per epoch
  std::vector<int64_t> idx(size_t(per_epoch * ft.batch));
  Rng rng(ft.seed ^ salt);
  for (auto& i : idx) i = int64_t(rng.below(uint64_t(train.size())));
  std::sort(idx.begin(), idx.end());
  data::Dataset part = data::subset(train, idx, train.name + "/finetune");
  train::TrainConfig cfg;
  cfg.epochs = epochs;
  cfg.batch = ft.batch;
  DEFTNN_CHECK(ft.lr_policy == "fixed" || ft.lr_policy == "linear",
               "fine-tuning: unknown learning-rate policy '{}' (known: fixed, linear)", ft.lr_policy);
  cfg.lr.policy = ft.lr_policy == "linear" ? "poly" : "fixed";
  cfg.lr.power = 1;
  cfg.lr.max_iter = epochs * per_epoch;
  cfg.lr.base_lr = ft.lr;
  if (ft.distilled()) {
    DEFTNN_CHECK(ft.teacher_logits.defined() && ft.teacher_logits.dim(0) == train.size(),
                 "fine-tuning with distillation: teacher logits {} for the {} images of {}",
                 ft.teacher_logits.defined() ? shape_str(ft.teacher_logits.shape()) : "undefined", train.size(),
                 train.name);
    cfg.distill.teacher_logits = train::gather_rows(ft.teacher_logits, idx);
    cfg.distill.temperature = ft.distill_temperature;
    cfg.distill.weight = ft.distill_weight;
  }
  cfg.momentum = ft.momentum;
  cfg.weight_decay = ft.weight_decay;
  cfg.seed = ft.seed;
  cfg.keep_best = false;
  cfg.progress = false;
  train::Trainer trainer(net, ctx, cfg);
  trainer.fit(part, nullptr);
  return clock.seconds();
}

}  // namespace deftnn::tune
