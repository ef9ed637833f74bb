// The optimiser's first stage: which GEMM layers it varies, and the dense
// net's measurements that every later stage starts from.
#pragma once

#include <cstdint>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "net/net.h"
#include "train/prepare.h"
#include "tune/finetune.h"
#include "tune/options.h"
#include "tune/variants.h"

namespace deftnn::tune {

struct Baseline {
  std::vector<GemmLayer> layers;    // every GEMM layer of the net
  std::vector<size_t> optimised;    // indices into layers: the ones given variants
  int64_t gemm_flops = 0;           // GEMM FLOPs of one image, dense, all layers
  std::vector<Tensor> params;       // every parameter of the net as given (CPU), net.params() order
  Tensor timing_batch;              // (n, C, H, W) the first validation images, on ctx's device
  double val_acc = 0;               // the dense net's validation accuracy
  double time_ms = 0;               // and its forward time over timing_batch
  FinetuneOptions finetune, joint;  // o.finetune and o.joint, with the dense net's logits when distilled
};

// Checks the options against the net and the data, then measures the dense
// net (validation accuracy, forward time) and, when a fine-tuning is
// distilled, its logits for the training split (the teacher of every
// fine-tuning).
Baseline measure_baseline(Net& net, Context& ctx, const train::PreparedData& d, const OptimizeOptions& o);

}  // namespace deftnn::tune
