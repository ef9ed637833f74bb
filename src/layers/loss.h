// Softmax with cross-entropy, Caffe's SoftmaxWithLoss: the trainer's loss.
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace deftnn {

// logits (N, C) F32, labels (N) I32 in [0, C). Returns the mean loss over N.
// When dlogits is not null writes d(mean loss)/d(logits), shape (N, C).
// When correct is not null adds the number of rows whose argmax == label.
float softmax_cross_entropy(Context& ctx, const Tensor& logits, const Tensor& labels, Tensor* dlogits,
                            int64_t* correct = nullptr);

// Row-wise softmax probabilities of logits (N, C) into probs (N, C).
void softmax(Context& ctx, const Tensor& logits, Tensor& probs);

}  // namespace deftnn
