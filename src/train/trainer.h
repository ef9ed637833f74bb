// The training loop: epochs of SGD on a Dataset with Caffe's softmax loss,
// validation after every epoch, best-or-last weights, progress on stderr and
// checkpoints that resume bit-exactly on the CPU.
//
// A checkpoint is the Net's model file (Net::save) with the optimizer state
// added: tensors "optim.momentum.<layer>.<param>" (momentum buffers) and
// "optim.best.<layer>.<param>" (the best weights so far, when keeping the
// best), and the metadata entry "deftnn.train_state" (JSON: epoch, iteration,
// seed, best accuracy, history). Checkpoints are taken at epoch ends; the
// loader's order depends only on (seed, epoch), so the position is the epoch.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "net/net.h"
#include "train/lr_policy.h"
#include "train/sgd.h"

namespace deftnn::train {

struct TrainConfig {
  int64_t epochs = 4;
  int64_t batch = 64;
  LrPolicy lr;
  float momentum = 0.9f, weight_decay = 0.f;
  uint64_t seed = 1;          // data order (the net's init seed is the caller's)
  bool drop_last = false;     // drop each epoch's last partial batch
  bool keep_best = true;      // end with the weights of the best validation epoch
  std::string checkpoint;     // written after every epoch when not empty
  bool progress = true;       // progress output on stderr
  int64_t eval_batch = 256;
  // Knowledge distillation (train/distill.h). When teacher_logits is defined
  // the loss is distillation_loss(temperature, weight) instead of the plain
  // softmax cross-entropy: teacher_logits is (N, C) F32 on the CPU, row i the
  // teacher's logits for image i of the dataset given to fit() (see
  // predict_logits). Not stored in checkpoints.
  struct Distill {
    Tensor teacher_logits;
    double temperature = 4;
    double weight = 0.5;  // lambda: the soft term's share
    bool on() const { return teacher_logits.defined(); }
  } distill;

  // Reads the keys of a graph file's "train" object over these defaults:
  // epochs, batch, lr, momentum, weight_decay, lr_policy, gamma, stepsize,
  // stepvalues, power, max_iter, seed, keep ("best" | "last"), drop_last.
  void apply_json(const nlohmann::json& j);
};

struct EvalResult {
  double accuracy = 0, loss = 0;  // accuracy in [0, 1], mean loss
  int64_t count = 0;
};

// Inference-mode accuracy and mean loss of net over ds (F32 images), batched.
EvalResult evaluate(Net& net, Context& ctx, const data::Dataset& ds, int64_t batch = 256);

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  int64_t iteration = 0;
  double lr = 0, train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0, seconds = 0;
  nlohmann::json to_json() const;
  static EpochRecord from_json(const nlohmann::json& j);
};

class Trainer {
 public:
  // net must already be on ctx's device.
  Trainer(Net& net, Context& ctx, TrainConfig cfg);

  // Trains from the current position (epoch 0, or where resume() left off)
  // to cfg.epochs. val may be null (then the last weights are kept).
  // Returns the whole history (resumed epochs included).
  const std::vector<EpochRecord>& fit(const data::Dataset& train, const data::Dataset* val);

  // Writes the checkpoint atomically (temporary file, rename).
  void save_checkpoint(const std::string& path) const;
  // Restores momentum, position, best weights and history from a checkpoint
  // of this net (load the net itself with load_checkpoint_net).
  void resume(const std::string& path);
  // The Net stored in a checkpoint (optimizer state stripped).
  static Net load_checkpoint_net(const std::string& path);
  // True when path is a safetensors file holding a training state.
  static bool is_checkpoint(const std::string& path);

  int64_t epoch() const { return epoch_; }          // completed epochs
  int64_t iteration() const { return iteration_; }  // completed updates
  double best_val_acc() const { return best_val_acc_; }
  int64_t best_epoch() const { return best_epoch_; }
  const std::vector<EpochRecord>& history() const { return history_; }
  const TrainConfig& config() const { return cfg_; }

 private:
  struct Named {
    std::string name;  // "<layer>.<param>"
    Param* param;
  };
  void snapshot_best();
  void restore_best();

  Net& net_;
  Context& ctx_;
  TrainConfig cfg_;
  std::vector<Named> params_;
  Sgd sgd_;
  int64_t epoch_ = 0, iteration_ = 0, best_epoch_ = 0;
  double best_val_acc_ = -1;
  std::vector<Tensor> best_;  // CPU copies of every param value at the best epoch
  std::vector<EpochRecord> history_;
};

}  // namespace deftnn::train
