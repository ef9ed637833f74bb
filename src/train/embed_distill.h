// Recovery of an eliminated BERT sentence encoder (net/bert.h with SVE states,
// net/bert_sve.h) by distillation from the dense encoder on unlabelled text:
// the truncated weights W' and biases b' of the eliminated linear layers are
// fine-tuned with Adam (train/adam.h) so the encoder's output, the mean-pooled
// L2-normalised embedding, matches the dense model's for the same ids. The
// gradient is the engine's own backward through the whole graph (l2norm,
// meanpool, layernorm, add, linear under SVE, gelu, attention, embedding);
// nothing else is trained: the embedding tables, the layer norms and any
// layer left dense stay the model folder's, which is what the SVE overlay
// file (net/bert_sve.h) can hold.
//
// The loss of a batch of N rows, student s_i and teacher t_i (both unit):
//   L = (1/N) sum_i 1/2 ||s_i - t_i||^2  (= mean_i 1 - cos(s_i, t_i) for unit rows),
//   dL/ds_i = (s_i - t_i) / N.
// Written as a distance rather than 1 - s.t so that a student equal to its
// teacher gets an exactly zero gradient (Adam would turn a rounding-sized
// gradient into a full-sized step).
//
// Batches are fixed: the texts sorted by length (stable) and cut into groups
// of `batch`, each padded to its longest rounded up to 8 (embed_ids' rule);
// each epoch visits the groups in a seeded random order. The teacher's rows are
// computed once per group by the same kind of forward pass (same rows, same
// padded length), so with every column kept the student computes exactly the
// teacher's numbers on the CPU and nothing moves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "net/bert.h"
#include "train/adam.h"

namespace deftnn::train {

// The non-blank lines of an unlabelled text file (one text each; a trailing
// '\r' dropped). Throws a deftnn::Error naming the file when it is missing,
// not a regular file, unreadable, or holds no text.
std::vector<std::string> read_text_lines(const std::string& path);

// The loss above over n rows of h values; when grad is not null writes dL/ds
// (n * h). T is float or double (double for finite-difference tests); the sum
// runs in double.
template <class T>
double embedding_distance_loss(const T* s, const T* t, int64_t n, int64_t h, T* grad);

// Per-row cosine of two (n, h) F32 CPU tensors: its mean and minimum.
struct CosineStats {
  double mean = 0, min = 0;
};
CosineStats row_cosines(const Tensor& a, const Tensor& b);

struct EmbedDistillConfig {
  int64_t steps = 200;  // Adam updates, one batch each
  int64_t batch = 16;   // texts per batch
  AdamConfig adam;
  uint64_t seed = 1;     // the order of the batches
  bool progress = true;  // bar with rate, ETA and the running loss on stderr
};

struct EmbedDistillResult {
  std::vector<double> losses;  // per step: the batch's loss before its update
  int64_t batches = 0;         // fixed batches the texts make
  int64_t parameters = 0;      // trained elements (every W' and b')
  double teacher_seconds = 0, seconds = 0;  // the teacher's pass; the whole run
};

// Fine-tunes the eliminated layers of `enc` (enc.sve(), set beforehand: at
// least one layer) on `ids` (token id lists, [CLS] ... [SEP], 1 to
// max_positions ids each, at least one list) and leaves the result as
// enc.sve(). The weights are copied first (the caller's tensors are never
// changed in place). Runs on ctx's device; Adam runs on the host.
EmbedDistillResult distill_embeddings(bert::BertEncoder& enc, Context& ctx,
                                      const std::vector<std::vector<int32_t>>& ids, const EmbedDistillConfig& cfg);

}  // namespace deftnn::train
