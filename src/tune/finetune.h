// Fine-tuning with SGD, as the optimiser runs it for a variant (one layer
// trainable) and for a composition (every layer trainable, "joint").
#pragma once

#include <cstdint>
#include <string>

#include "core/context.h"
#include "data/dataset.h"
#include "net/net.h"

namespace deftnn::tune {

struct FinetuneOptions {
  int64_t iterations = 200;  // SGD updates per variant
  int64_t batch = 64;
  double lr = 0.001;
  std::string lr_policy = "fixed";  // "fixed" | "linear" (lr decays linearly to 0 over the iterations)
  float momentum = 0.9f, weight_decay = 5e-4f;
  uint64_t seed = 1;
  // Knowledge distillation from the dense net (train/distill.h): with
  // distill_weight > 0 the loss mixes the hard labels with the teacher's
  // softened outputs. teacher_logits: (N, C) F32 on the CPU, the dense net's
  // logits for every image of the training split given to finetune().
  double distill_weight = 0;
  double distill_temperature = 4;
  Tensor teacher_logits;
  bool distilled() const { return distill_weight > 0; }
};

// Fine-tunes the net as installed with SGD: ft.iterations updates of
// ft.batch images drawn (seeded by ft.seed ^ salt) from train; parameters
// whose trainable flag is false stay frozen. Returns the seconds taken.
double finetune(Net& net, Context& ctx, const data::Dataset& train, const FinetuneOptions& ft, uint64_t salt);

}  // namespace deftnn::tune
