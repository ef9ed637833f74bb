// Knowledge distillation (Hinton, Vinyals and Dean, 2015) for fine-tuning a
// pruned network against its dense original: the student's loss mixes the
// hard-label cross-entropy with the KL divergence from the teacher's softened
// outputs,
//
//   L = (1 - lambda) CE(softmax(z), y) + lambda T^2 KL(softmax(t / T) || softmax(z / T)),
//
// averaged over the N rows. z: student logits, t: teacher logits, y: labels,
// T: temperature, lambda: the soft term's weight. The T^2 keeps the soft
// term's gradient on the scale of the hard one's as T changes:
//
//   dL/dz = [(1 - lambda) (softmax(z) - onehot(y)) + lambda T (softmax(z / T) - softmax(t / T))] / N.
//
// The trainer (TrainConfig::distill) reads the teacher's logits from a table
// computed once (predict_logits), so the teacher costs one forward pass over
// the training set instead of one per step.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"
#include "data/dataset.h"
#include "net/net.h"

namespace deftnn::train {

struct DistillLoss {
  double loss = 0;  // mean over rows of the mixed loss
  double hard = 0;  // mean cross-entropy with the labels
  double soft = 0;  // mean KL(teacher_T || student_T) (without the T^2)
};

// logits and teacher (N, C) F32 (or F64 on the CPU) on ctx's device, labels
// (N) I32 in [0, C). temperature > 0, weight in [0, 1]. When dlogits is not
// null writes dL/dz (N, C). When correct is not null adds the number of rows
// whose student argmax (first maximum) equals the label.
DistillLoss distillation_loss(Context& ctx, const Tensor& logits, const Tensor& labels, const Tensor& teacher,
                              double temperature, double weight, Tensor* dlogits, int64_t* correct = nullptr);

// The net's logits (inference mode) for every image of ds, (N, C) F32 on the
// CPU, in ds's order.
Tensor predict_logits(Net& net, Context& ctx, const data::Dataset& ds, int64_t batch = 256);

// Rows `indices` of a (N, C) CPU table, in that order.
Tensor gather_rows(const Tensor& table, const std::vector<int64_t>& indices);

}  // namespace deftnn::train
