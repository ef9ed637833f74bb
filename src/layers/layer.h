// The layer contract. Every layer has forward and backward on the CPU and on
// CUDA; the device is the device of the tensors passed in (and of ctx).
//
// Shapes: activations are (N, C, H, W) for spatial layers and (N, F) after
// Flatten. A layer never allocates its output: the Net asks infer() for the
// output shape and hands in a tensor of that shape on ctx's device.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "layers/infer_args.h"

namespace deftnn {

// A learnable (or persistent) tensor of a layer. Saved in model files as
// "<layer>.<name>".
struct Param {
  std::string name;     // "weight", "bias", "running_mean", ...
  Tensor value;
  Tensor grad;          // same shape; undefined for non-trainable buffers
  bool trainable = true;
  float lr_mult = 1.f, decay_mult = 1.f;  // Caffe's per-parameter multipliers
};

// What `deftnn inspect` and the benchmarks report of a GEMM layer, in Caffe's
// convention: W (M x K) times X (K x N), `groups` independent products.
struct GemmShape {
  int64_t M = 0, N = 0, K = 0, groups = 1;
};

class GemmLayer;

class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  const std::string& name() const { return name_; }
  virtual std::string type() const = 0;  // the graph file's "type"

  // Output shape for an input shape; also sizes the parameters on first call.
  // Throws deftnn::Error naming the layer when the input does not fit.
  virtual Shape infer(const Shape& in) = 0;
  // Seeded parameter initialisation (after infer).
  virtual void init_params(Rng& rng) {}
  virtual std::vector<Param*> params() { return {}; }
  // Called by Net::to() after every Param (value and grad) has moved to
  // ctx's device, so a layer can move or rebuild its own device state
  // (SVE index tensors, packed weights, descriptors).
  virtual void on_device_change(Context& ctx) {}
  // Called by whoever replaced or overwrote parameter values from outside
  // (the optimiser installing a variant, the trainer restoring its best
  // epoch): the layer drops what it derived from them (packed weights).
  // on_device_change implies it.
  virtual void on_params_changed() {}

  // y = f(x). `train` switches Dropout and BatchNorm to training behaviour.
  virtual void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) = 0;
  // Writes (overwrites) the parameter gradients from dy and, when dx is not
  // null, the input gradient. x and y are the tensors of the last forward.
  virtual void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) = 0;

  // The layer's entry in a graph file, parameters included, so that
  // make_layer(config()) rebuilds it.
  virtual nlohmann::json config() const = 0;

  // Several inputs or outputs (add, concat, split). The Net calls only these.
  // The defaults take one input and one output and call infer / forward /
  // backward above, so a one-in one-out layer overrides none of them.
  // Inputs the layer takes: from min_inputs() to max_inputs() (kAnyCount: no
  // limit); outputs it writes: num_outputs().
  static constexpr int kAnyCount = -1;
  virtual int min_inputs() const { return 1; }
  virtual int max_inputs() const { return 1; }
  virtual int num_outputs() const { return 1; }
  // One output shape per output, for one shape per input.
  virtual std::vector<Shape> infer_multi(const std::vector<Shape>& in);
  virtual void forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                             bool train);
  // dx[k] null: no gradient wanted for input k. Parameter gradients are
  // overwritten, as in backward().
  virtual void backward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<const Tensor*>& y,
                              const std::vector<const Tensor*>& dy, const std::vector<Tensor*>& dx);

  // Inference fusion, used by Net::forward(train = false) only (training runs
  // every layer as it is). A layer that can apply a ReLU to its own output in
  // its epilogue returns true from can_fuse_relu(); forward_fused_relu() is
  // then forward(train = false) followed by a ReLU of negative slope `slope`,
  // in one pass. The default throws.
  virtual bool can_fuse_relu() const { return false; }
  virtual void forward_fused_relu(Context& ctx, const Tensor& x, Tensor& y, float slope);
  // The general inference entry point (Net::forward(train = false) and the
  // per-layer benchmark call only this): layouts, fused ReLU, deferred and
  // pending epilogues as planned. The default runs forward() or
  // forward_fused_relu() and refuses anything else.
  virtual void forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& args);
  // Layouts this layer can read and write at inference (NCHW -> NCHW always).
  virtual bool supports_layout(Layout in, Layout out) const { return in == Layout::NCHW && out == Layout::NCHW; }
  // True when this layer can leave its bias and ReLU to its consumer (conv).
  virtual bool can_defer_epilogue() const { return false; }
  // The bias a deferred epilogue leaves (null when the layer has none).
  virtual const float* deferred_bias() const { return nullptr; }
  // True when this layer can apply a producer's pending bias + ReLU of
  // negative slope `slope` to what it reads, with the same result.
  virtual bool can_absorb_pending(float slope) const { return false; }
  // True for layers that are the identity at inference (Dropout): Net::forward
  // (train = false) skips them and hands their input on, with no copy.
  virtual bool identity_at_inference() const { return false; }

  // GEMM layers (conv, linear; layers/gemm_layer.h) return themselves: their
  // weight, SVE state and execution settings. Null for every other layer.
  virtual GemmLayer* as_gemm() { return nullptr; }
  virtual const GemmLayer* as_gemm() const { return nullptr; }
  bool has_gemm() const { return as_gemm() != nullptr; }
  virtual GemmShape gemm_shape(const Shape& in) const { return {}; }
  // Multiply-adds x 2 of one forward pass for input shape `in` (whole batch).
  virtual int64_t flops(const Shape& in) const { return 0; }

 private:
  std::string name_;
};

// Builds a layer from its graph-file entry ({"type": ..., "name": ..., ...}).
// An unknown type throws an Error that lists the known types.
std::unique_ptr<Layer> make_layer(const nlohmann::json& spec);
std::vector<std::string> known_layer_types();

}  // namespace deftnn
