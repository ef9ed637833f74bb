// Net: a chain of layers built from a JSON graph file (models/*.json), with
// its parameters, its activations and any optimisation state.
//
// Graph file:
//   {"name": "lenet", "input": [1, 28, 28], "classes": 10,
//    "layers": [{"type": "conv", "name": "conv1", "out": 20, "kernel": 5}, ...]}
// The last layer's output is (N, classes) logits.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "layers/layer.h"

namespace deftnn {

class Net {
 public:
  // Builds from a parsed graph; `source` names the file in error messages.
  // Runs shape inference; a mismatch throws an Error naming the layer.
  static Net from_graph(const nlohmann::json& graph, const std::string& source);
  // A graph file (.json, random weights after init()) or a model file
  // (.safetensors: graph, weights and metadata).
  static Net load(const std::string& path);
  // Writes a safetensors model file atomically (temporary file, rename).
  void save(const std::string& path) const;

  Net(Net&&) = default;
  Net& operator=(Net&&) = default;

  const std::string& name() const { return name_; }
  const Shape& input_shape() const { return input_; }  // (C, H, W) of one image
  int64_t classes() const { return classes_; }
  size_t size() const { return layers_.size(); }
  Layer& layer(size_t i) { return *layers_[i]; }
  const Layer& layer(size_t i) const { return *layers_[i]; }
  Layer* find(const std::string& layer_name);
  // Output shape of layer i for a batch of n.
  Shape output_shape(size_t i, int64_t n) const;
  // Input shape of layer i for a batch of n.
  Shape input_shape_of(size_t i, int64_t n) const;

  void init(uint64_t seed);
  // Moves the parameters to `device` (the activations follow on next forward).
  void to(Context& ctx);
  Device device() const { return device_; }
  std::vector<Param*> params();

  // Logits (N, classes) for x (N, C, H, W) on ctx's device. Activations are
  // kept (reused across calls of the same batch size) for backward().
  const Tensor& forward(Context& ctx, const Tensor& x, bool train);
  // Backpropagates d(loss)/d(logits); fills every Param::grad.
  void backward(Context& ctx, const Tensor& dlogits);

  // The graph as JSON (what from_graph reads), current layer configs.
  nlohmann::json graph() const;
  // Free-form optimisation state saved with the model (SVE plans, formats,
  // variants). Keys are owned by the subsystems that write them.
  nlohmann::json& metadata() { return metadata_; }
  const nlohmann::json& metadata() const { return metadata_; }

 private:
  Net() = default;
  std::string name_;
  Shape input_;
  int64_t classes_ = 0;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Tensor> acts_;   // acts_[0] = input, acts_[i+1] = output of layer i
  std::vector<Tensor> grads_;  // same shapes as acts_
  Device device_ = Device::CPU;
  nlohmann::json metadata_ = nlohmann::json::object();
};

}  // namespace deftnn
