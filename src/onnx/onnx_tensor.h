// Constant values of an ONNX model (initializers, Constant nodes, shapes the
// importer folds): a TensorProto decoded into host numbers, from its typed
// fields, its raw_data or external data beside the model file.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace onnx {
class TensorProto;
}

namespace deftnn::onnx_import {

// In a folded shape: "the batch, whatever it is" (Shape of a tensor whose
// first dimension is symbolic). A Reshape target keeps it as 0 (copy the dim).
inline constexpr int64_t kBatchDim = std::numeric_limits<int64_t>::min();

struct OnnxValue {
  Shape shape;               // () for a scalar
  bool is_int = false;       // int64 / int32 elements (in `ints`), else float / double (in `floats`)
  std::vector<float> floats;
  std::vector<int64_t> ints;
  int64_t numel() const { return is_int ? int64_t(ints.size()) : int64_t(floats.size()); }
  // The elements as doubles, whatever their type.
  double at(int64_t k) const { return is_int ? double(ints[size_t(k)]) : double(floats[size_t(k)]); }
};

// Decodes `t`; external data is read relative to model_path's folder (no
// absolute paths, no '..'). Errors name `what` (file, tensor): an element type
// other than float, double, int64, int32; dimensions that are negative or
// whose product overflows; data that is missing, short or out of the file.
OnnxValue decode_tensor(const onnx::TensorProto& t, const std::string& model_path, const std::string& what);

// A CPU F32 tensor of v's shape (a scalar becomes shape (1)).
Tensor to_f32(const OnnxValue& v);

}  // namespace deftnn::onnx_import
