// Dropout, inverted as in Caffe: in training each element is kept with
// probability 1 - ratio and scaled by 1 / (1 - ratio); in inference y = x.
// Graph entry: {"type": "dropout", "name": ..., "ratio": 0.5, "seed": 0}.
//
// The mask of the k-th training forward is dropout_keep(dropout_key(seed, k), i)
// (dropout_hash.h): reproducible from the seed, identical on CPU and CUDA,
// and recomputed in backward instead of stored.
#pragma once

#include "layers/layer.h"

namespace deftnn {

class DropoutLayer : public Layer {
 public:
  DropoutLayer(std::string name, double ratio, uint64_t seed);
  std::string type() const override { return "dropout"; }
  Shape infer(const Shape& in) override { return in; }
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
  bool identity_at_inference() const override { return true; }

  // Training forwards done so far; the next one uses mask number counter().
  uint64_t counter() const { return counter_; }
  void set_counter(uint64_t c) { counter_ = c; }

 private:
  // out = keep ? in * scale : 0 with the mask of key `key` (or a copy when !masked).
  void apply(Context& ctx, const Tensor& in, Tensor& out, bool masked, uint64_t key) const;
  double ratio_;
  uint64_t seed_;
  uint64_t counter_ = 0;
  uint64_t last_key_ = 0;
  bool last_train_ = false;
};

std::unique_ptr<Layer> make_dropout(const nlohmann::json& spec);

}  // namespace deftnn
