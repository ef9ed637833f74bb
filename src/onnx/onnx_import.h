// ONNX import: an .onnx model (opset 13 and later; older opsets where the
// operators read the same) mapped onto the engine's graph (graph/graph.h,
// docs/models.md) and layers, with its weights. Parsing is the ONNX
// library's (Debian's libonnx: its onnx.proto through protobuf), and so is
// shape inference; the importer maps operators:
//   Conv (groups, strides, symmetric pads; no dilation) -> conv, with a
//   BatchNormalization after it folded into its weight and bias; Gemm and
//   MatMul with a constant weight -> linear; Add, Sub, Mul, Div by a
//   scalar or per-channel constant after a conv or linear -> its weight and
//   bias; Add of two tensors -> add; Relu,
//   LeakyRelu -> relu; Sigmoid, Tanh, HardSigmoid, HardSwish -> activation;
//   Clip -> clip (relu when [0, inf)); MaxPool,
//   AveragePool, GlobalAveragePool, GlobalMaxPool -> maxpool / avgpool
//   (square windows); Flatten and Reshape to (N, features) -> flatten;
//   Concat -> concat; Softmax over the features -> softmax;
//   BatchNormalization elsewhere -> batchnorm; LRN -> lrn;
//   LayerNormalization over the last axis -> layernorm; Gelu -> gelu;
//   ReduceMean over H and W -> avgpool (and flatten); Squeeze of
//   (N, C, 1, 1) -> flatten; Dropout and Identity -> nothing. Shape, Gather, Unsqueeze, Squeeze, Concat and Cast
//   on constants are folded, so a Reshape whose target is computed from a
//   Shape (x.view(x.size(0), -1)) imports.
// Everything else is a deftnn::Error naming the file, the node and its
// operator (and the attribute), as is a file that does not parse, a weight
// that is no initializer, a node that reads a tensor nothing before it writes
// (a cycle), a wrong rank or a shape that overflows.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/tensor.h"

namespace deftnn::onnx_import {

struct OnnxModel {
  nlohmann::json graph;                   // a version-2 graph file ("inputs", "outputs", per layer "inputs"/"outputs")
  std::map<std::string, Tensor> tensors;  // "<layer>.<param>" -> CPU F32, every parameter of every layer
};

// Reads and maps `path`. Throws a deftnn::Error naming the file.
OnnxModel import_onnx(const std::string& path);

// True for a path that names an ONNX model (ends in ".onnx").
bool is_onnx_path(const std::string& path);

}  // namespace deftnn::onnx_import
