// Graph: a graph file parsed into nodes (layer entries) and the named tensors
// between them, ordered topologically, with shapes inferred (see
// docs/models.md, "Graph files"). The structure only: the Net makes the
// layers from the nodes' entries and owns them.
//
// Version 2 of the format: optional "inputs": [{"name", "shape"}] (the
// legacy "input": [C, H, W] is one input named "data"), optional "outputs":
// [tensor names] (default: the last layer's first output), and per layer
// optional "inputs" / "outputs" (default: the previous layer's first output,
// or the first graph input for the first layer / one tensor named after the
// layer). A chain written in version 1 reads unchanged.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "layers/layer.h"

namespace deftnn {

// Rethrows e with `prefix` in front of its message, keeping where it failed
// (and an OutOfMemory an OutOfMemory).
[[noreturn]] void rethrow_with(const Error& e, const std::string& prefix);

struct GraphTensor {
  std::string name;
  Shape shape;        // batch 1 (dim 0 = 1); graph inputs at parse, the rest by infer_shapes
  int producer = -1;  // the node that writes it (topological index), -1 for a graph input
  size_t slot = 0;    // which output of the producer, or which graph input
  std::vector<std::pair<size_t, size_t>> consumers;  // (node, input index), in node order
};

struct GraphNode {
  std::string name, type;
  nlohmann::json spec;     // the layer entry for make_layer: "name" filled in, "inputs" and "outputs" taken out
  size_t file_index = 0;   // position in the file's "layers"
  std::vector<size_t> inputs, outputs;  // tensor ids
};

class Graph {
 public:
  // Parses the structure of a graph file: names, tensors, edges, topological
  // order (file order wherever the edges allow). Throws an Error naming
  // `source` and the node: an unknown input tensor, a tensor written twice, a
  // cycle, an output nothing writes, malformed keys.
  static Graph parse(const nlohmann::json& graph, const std::string& source);
  // Checks every node's input and output count against its layer and infers
  // the shapes for a batch of one, in topological order (layers[i] runs node
  // i); checks "classes" against the first output when given.
  void infer_shapes(std::vector<std::unique_ptr<Layer>>& layers);
  // The graph file for these layer entries (one per node, topological
  // order): "inputs" / "outputs" written only where they differ from the
  // defaults, so a chain comes out as version 1 wrote it.
  nlohmann::json to_json(const std::vector<nlohmann::json>& layer_entries) const;

  // "layers[3] 'add1' (add)": the node as the file has it, for messages.
  std::string node_label(size_t node) const;
  // The tensor's id, or a throw listing the tensors.
  size_t tensor_id(const std::string& name) const;
  // The tensors' names, comma-separated (for messages).
  std::string tensor_names() const;

  std::string source;  // the file (or description) errors name
  std::string name, notes;
  std::optional<int64_t> classes;  // when given: the first output is (N, classes)
  std::vector<GraphNode> nodes;      // topological order
  std::vector<GraphTensor> tensors;  // the graph inputs first
  std::vector<size_t> inputs, outputs;  // tensor ids, as declared
};

}  // namespace deftnn
