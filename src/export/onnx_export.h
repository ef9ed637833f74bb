// ONNX export: any Net the engine loads (a graph file with its seeded
// weights, a safetensors model file, an imported ONNX model, an
// SVE-optimised model) written as a standard ONNX graph (opset 17, 20 with
// a GELU; ONNX's
// protobuf through Debian's libonnx), checked by ONNX's checker and written
// atomically (temporary file, fsync, rename).
//
// Layers map one to a few nodes: conv -> Conv, linear -> Gemm (after a
// Flatten for a (N, C, H, W) input; MatMul + Add for tokens), relu ->
// Relu / LeakyRelu, clip -> Clip, activation -> Sigmoid / Tanh /
// HardSigmoid / HardSwish, maxpool / avgpool -> MaxPool / AveragePool
// (Caffe's ceil rounding as ceil_mode 1 where ONNX's windows agree), lrn ->
// LRN, dropout -> Identity, flatten -> Flatten, batchnorm ->
// BatchNormalization, softmax -> Softmax, add -> Add / Sum, concat ->
// Concat, layernorm -> LayerNormalization, gelu -> Gelu. Anything
// else is an Error naming the file, the layer and its type.
//
// SVE-eliminated layers (an active SveState: weight (out, K'), kept rows)
// become physically smaller dense tensors:
// - linear: the truncated (out, K') weight as it is, after a Gather that picks
//   the kept input features in weight-column order;
// - conv: ONNX's Conv cannot skip single (channel, row, column) taps, only
//   whole input channels, so the weight is (out, C', kh, kw) over the C'
//   input channels of a group that keep at least one tap (the eliminated taps
//   of those channels are zeros), after a Gather of those channels;
// - where the kept inputs come straight from one other GEMM layer (through
//   element-wise layers, pools and batchnorms only (a batchnorm's parameters
//   sliced alike), no other reader, groups 1), that producer's weight rows
//   and bias entries of the dropped channels or neurons go too, in the order
//   the consumer reads them, and no Gather is needed; a linear layer that
//   keeps whole channels of a flattened conv output (channel-granular SVE)
//   walks back through the flatten to that conv. LRN, add, concat and
//   grouped layers stop the walk (the consumer gathers).
#pragma once

#include <cstdint>
#include <string>

#include "net/net.h"

namespace deftnn::onnx_export {

struct ExportSummary {
  int64_t nodes = 0;
  int64_t parameters = 0;        // elements of the exported initializers (weights, biases)
  int64_t dense_parameters = 0;  // the same for the dense model (every K, every row)
  int64_t gathers = 0;           // Gather nodes that pick kept inputs
  int64_t shrunk_producers = 0;  // GEMM layers whose output rows went with a consumer's eliminated inputs
};

// Writes `net` (parameters on the CPU) to `path`; `source` names the model in
// errors. Throws a deftnn::Error naming source / path and the layer; nothing
// is written then.
ExportSummary export_onnx(Net& net, const std::string& source, const std::string& path);

}  // namespace deftnn::onnx_export
