// Loader: seeded, shuffled mini-batches of a Dataset, copied to the device of
// the context. The order of epoch e depends only on (seed, e), so a run that
// resumes at epoch e sees exactly the batches an uninterrupted run sees.
#pragma once

#include <cstdint>
#include <vector>

#include "core/context.h"
#include "data/dataset.h"

namespace deftnn::data {

struct LoaderOptions {
  int64_t batch = 64;
  bool shuffle = true;
  bool drop_last = false;  // drop the last partial batch of an epoch
  uint64_t seed = 1;
};

class Loader {
 public:
  Loader(const Dataset& ds, LoaderOptions opt);

  int64_t batches_per_epoch() const;
  // The image order of `epoch` (a permutation of [0, N), or identity without shuffle).
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  // Positions the loader at batch `batch` of `epoch`.
  void seek(int64_t epoch, int64_t batch = 0);
  int64_t epoch() const { return epoch_; }
  int64_t batch_index() const { return batch_; }  // next batch to hand out

  // The next batch of the current epoch: images (B, C, H, W) F32 and labels
  // (B) I32 on ctx's device (U8 images are scaled to [0, 1]). Returns false at
  // the end of the epoch (then call seek(epoch + 1)). The tensors are reused
  // by the next call.
  bool next(Context& ctx, Tensor& images, Tensor& labels);

 private:
  const Dataset* ds_;
  LoaderOptions opt_;
  int64_t epoch_ = -1, batch_ = 0;
  std::vector<int64_t> order_;
  Tensor host_images_, host_labels_, dev_images_, dev_labels_;
};

}  // namespace deftnn::data
