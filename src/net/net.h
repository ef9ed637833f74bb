// Net: a graph of layers over named tensors (a DAG, models/*.json), with its
// parameters, its activations and any optimisation state.
//
// Graph file (docs/models.md; the structure is parsed by graph/graph.h):
//   {"name": "lenet", "input": [1, 28, 28], "classes": 10,
//    "layers": [{"type": "conv", "name": "conv1", "out": 20, "kernel": 5}, ...]}
// plus an optional "notes" string (provenance, deviations from the original).
// Version 2 adds "inputs" / "outputs" at the top and per layer (residual
// adds, concats, several inputs); a chain needs none of them.
// Model file: safetensors with tensors "<layer>.<param>" and __metadata__
// {"deftnn.graph": graph JSON, "deftnn.meta": metadata() JSON,
//  "deftnn.version": "2"} (version "1" files, chains, load too).
// With "classes", the first output is (N, classes) logits.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "layers/layer.h"
#include "net/safetensors.h"

namespace deftnn {

class Net {
 public:
  // Builds from a parsed graph; `source` names the file in error messages.
  // Runs shape inference; a mismatch throws an Error naming the layer.
  static Net from_graph(const nlohmann::json& graph, const std::string& source);
  // A graph file (.json, random weights after init()), an ONNX model
  // (.onnx: graph and weights, mapped by onnx/onnx_import.h) or a model file
  // (anything else, safetensors: graph, weights and metadata).
  static Net load(const std::string& path);
  // Writes a safetensors model file atomically (temporary file, rename).
  void save(const std::string& path) const;
  // The same, copying GPU parameters through ctx (save() makes a context of
  // its own when the parameters are on the GPU).
  void save(const std::string& path, const Context& ctx) const;
  // A model file's contents without the file: build from them (`path` names
  // them in errors), or collect them (parameters as they are, GPU ones
  // included; write_safetensors copies those through its context).
  static Net from_tensor_file(const TensorFile& tf, const std::string& path);
  TensorFile to_tensor_file() const;
  // Reads a graph file (.json), an ONNX model's mapped graph (.onnx) or a
  // model file (anything else, safetensors).
  static nlohmann::json read_graph_file(const std::string& path);
  // Where the net came from (file path or the `source` given to from_graph).
  const std::string& source() const { return source_; }
  // Number of trainable parameter elements (weights and biases).
  int64_t parameter_count() const;

  Net(Net&&) = default;
  Net& operator=(Net&&) = default;

  const std::string& name() const { return graph_.name; }
  // The first graph input's shape without the batch: (C, H, W) of one image.
  const Shape& input_shape() const { return input_; }
  // The graph's "classes", 0 when it has none (its output is not logits).
  int64_t classes() const { return graph_.classes.value_or(0); }
  // Layers in topological order (for a chain: file order).
  size_t size() const { return layers_.size(); }
  Layer& layer(size_t i) { return *layers_[i]; }
  const Layer& layer(size_t i) const { return *layers_[i]; }
  Layer* find(const std::string& layer_name);
  // Shape of layer i's first output for a batch of n.
  Shape output_shape(size_t i, int64_t n) const;
  // Shape of layer i's first input for a batch of n.
  Shape input_shape_of(size_t i, int64_t n) const;

  // The graph's tensors (graph/graph.h): layer i reads
  // topology().nodes[i].inputs and writes .outputs (tensor ids).
  const Graph& topology() const { return graph_; }
  // Tensor names layer i reads and writes.
  std::vector<std::string> input_names(size_t i) const;
  std::vector<std::string> output_names(size_t i) const;
  // The layers (topological indices) that read a tensor, in order.
  std::vector<size_t> consumers(const std::string& tensor) const;
  // Shape of a tensor for a batch of n.
  Shape tensor_shape(const std::string& tensor, int64_t n) const;
  // Names of the graph inputs and outputs, as declared.
  std::vector<std::string> input_names() const;
  std::vector<std::string> output_names() const;

  void init(uint64_t seed);
  // Moves the parameters to `device` (the activations follow on next forward).
  void to(Context& ctx);
  Device device() const { return device_; }
  std::vector<Param*> params();

  // Logits (N, classes) for x (N, C, H, W) on ctx's device: the first
  // output of a one-input graph. Activations are kept (reused across calls
  // of the same batch size) for backward().
  // With train = false and fuse_inference (the default), the pass follows
  // inference_plan(): a ReLU after a layer that can_fuse_relu() runs in that
  // layer's epilogue, layers that are the identity at inference (Dropout)
  // are skipped, and on the GPU the conv trunk runs channel-major with
  // deferred bias + ReLU; the logits are the same as unfused up to float
  // rounding (the same fp32 values, in the same order per output).
  // Skipped layers' activations are then not written, so backward() after such
  // a pass throws.
  const Tensor& forward(Context& ctx, const Tensor& x, bool train);
  // Every graph: one tensor per graph input, in declared order, all of one
  // batch size; returns the graph outputs in declared order (views of the
  // net's buffers, valid until the next forward).
  std::vector<Tensor> forward(Context& ctx, const std::vector<Tensor>& inputs, bool train);
  // Backpropagates d(loss)/d(logits) (the first output; every other output
  // gets a zero gradient); fills every Param::grad. Needs a forward with
  // train = true (or an unfused one) just before.
  void backward(Context& ctx, const Tensor& dlogits);
  // Every graph: one gradient per graph output, in declared order. A tensor
  // read by several layers gets the sum of their gradients. With
  // input_grads, returns d(loss)/d(input) per graph input (else nothing, and
  // the first layers skip their input gradient).
  std::vector<Tensor> backward(Context& ctx, const std::vector<Tensor>& d_outputs, bool input_grads = false);

  // How forward(train = false) runs layer i.
  enum class InferStep {
    Run,       // layer.forward_inference(x, y, args) (args.relu: the next layer, a ReLU, is Fused into it;
               // a layer of several inputs or outputs runs forward_multi with plain args)
    Fused,     // a ReLU done by the previous layer
    Skip,      // identity at inference: its output is its input
  };
  struct InferPlanEntry {
    InferStep step = InferStep::Run;
    InferArgs args;  // args.pending.bias is filled by run_inference_step from pending_from
    int pending_from = -1;  // the layer whose deferred bias args.pending applies, or -1
  };
  // Channel-major trunk and deferred epilogues (Layout::CNHW, InferArgs):
  // Auto = on a CUDA net only (where the permutes cost memory traffic);
  // Off = NCHW everywhere; On = also on the CPU (tests compare the two).
  enum class TrunkFusion { Auto, Off, On };
  TrunkFusion trunk_fusion = TrunkFusion::Auto;
  // One entry per layer; all Run with plain args when fuse_inference is false.
  // The plan: (1) Dropout and other inference identities are skipped; (2) a
  // ReLU after a layer that can_fuse_relu() goes into that layer's epilogue;
  // (3) with trunk fusion, activations between layers that can both handle
  // it are CNHW (a conv's output stays in GEMM order until the pool or conv
  // that reads it converts or consumes it; the net's output is NCHW), and a
  // conv whose next layer can absorb its bias + ReLU (max pool, conv) defers
  // them to it, so the conv trunk makes no pass of its own besides im2col.
  // In a graph that branches, (2) and (3) apply only along an edge whose
  // tensor has exactly one reader and is no graph output (a fused ReLU must
  // also be the next layer): branches and merges see NCHW, plain tensors. A
  // chain gets exactly the plan it had as a chain.
  std::vector<InferPlanEntry> inference_plan() const;
  // Runs layer i of `plan` (a Run step): x per input of layer i, y per output
  // of the last layer the step covers (layer i, or the ReLU it fused).
  void run_inference_step(Context& ctx, const std::vector<InferPlanEntry>& plan, size_t i,
                          const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y);
  bool fuse_inference = true;

  // The graph as JSON (what from_graph reads), current layer configs.
  nlohmann::json graph() const;
  // Free-form optimisation state saved with the model (SVE plans, formats,
  // variants). Keys are owned by the subsystems that write them.
  nlohmann::json& metadata() { return metadata_; }
  const nlohmann::json& metadata() const { return metadata_; }

 private:
  Net() = default;
  // Allocates acts_/grads_ for a batch of n on device_ (no-op when they fit).
  void ensure_activations(int64_t n, bool with_grads);
  // Checks the graph inputs for forward and installs them as activations.
  void set_inputs(const Context& ctx, const std::vector<Tensor>& inputs);
  // The forward pass over the installed inputs; the graph outputs (buffers
  // of acts_, or an input's when every layer on the way was skipped).
  std::vector<const Tensor*> run_forward(Context& ctx, bool train);
  // "layer 3 'add1' (add)" for run-time messages.
  std::string layer_label(size_t i) const;
  std::string source_;
  Graph graph_;                 // nodes (layer i runs graph_.nodes[i]) and tensors with shapes for a batch of 1
  int64_t act_batch_ = -1;      // batch size acts_ were allocated for
  bool last_forward_fused_ = false;  // the last forward skipped or fused layers
  Shape input_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Tensor> acts_;   // per tensor id; graph inputs are the caller's tensors
  std::vector<Tensor> grads_;  // same shapes as acts_ (graph inputs: only when input gradients are asked for)
  // Per layer and input: where a gradient goes that must be added to one
  // already written (a tensor read by several layers, or twice by one).
  std::vector<std::vector<Tensor>> edge_grads_;
  Device device_ = Device::CPU;
  nlohmann::json metadata_ = nlohmann::json::object();
};

}  // namespace deftnn
