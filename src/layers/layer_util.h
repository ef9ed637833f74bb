// Helpers shared by the layer implementations (not part of the public API):
// reading a graph-file entry with errors that name the layer and the key,
// checking forward/backward arguments, and keeping per-layer state tensors.
#pragma once

#include <nlohmann/json.hpp>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "core/context.h"
#include "core/tensor.h"
#include "layers/layer.h"

namespace deftnn {

// Reads one layer's entry ({"type": ..., "name": ..., ...}). Every accessor
// records the key; finish() rejects keys nobody read (a typo such as "stide"
// would otherwise silently fall back to a default).
class SpecReader {
 public:
  explicit SpecReader(const nlohmann::json& spec);
  const std::string& type() const { return type_; }
  const std::string& name() const { return name_; }

  // An integer in [min_value, max_value]; `def` is the default when the key
  // is absent (none = the key is required).
  int64_t integer(const std::string& key, std::optional<int64_t> def, int64_t min_value,
                  int64_t max_value = std::numeric_limits<int64_t>::max());
  // An integer or an [h, w] pair of them, each in [min_value, max_value].
  std::pair<int64_t, int64_t> int_pair(const std::string& key, std::optional<int64_t> def, int64_t min_value,
                                       int64_t max_value);
  bool boolean(const std::string& key, bool def);
  // A required string, one of `choices` (the error lists them).
  std::string choice(const std::string& key, const std::vector<std::string>& choices);
  // The JSON object under `key`, or null when absent; its contents are the
  // caller's to check (errors through fail()).
  const nlohmann::json* object(const std::string& key);
  // A finite number in [lo, hi] (or (lo, hi] when lo_open).
  double number(const std::string& key, std::optional<double> def, double lo, double hi, bool lo_open = false);
  // Throws on keys not read by any accessor (besides "type" and "name").
  void finish() const;

  [[noreturn]] void fail(const std::string& key, const std::string& why) const;

 private:
  const nlohmann::json& spec_;
  std::string type_, name_;
  std::set<std::string> read_;
};

struct SveState;
// A conv/linear entry's "sve" object (the kept rows of a pruned model) read
// by sve_from_json, its type errors reported through r.fail("sve", ...).
SveState read_sve_entry(const SpecReader& r, const nlohmann::json& sve);

// The largest kernel, stride, pad or channel count a graph file may ask for:
// far above any real network, low enough that products of a few of them
// cannot overflow int64.
inline constexpr int64_t kMaxLayerDim = int64_t(1) << 24;

// "layer 'pool1' (maxpool)" for messages.
std::string layer_label(const Layer& l);

// The entry's common part: {"type": ..., "name": ...}.
nlohmann::json base_config(const Layer& l);

// Checks x and y for forward: same device as ctx, x's dtype F32 (or F64 on
// the CPU), y of the same dtype and of shape `y_shape`.
void check_forward_args(const Layer& l, const Context& ctx, const Tensor& x, const Tensor& y, const Shape& y_shape);
// Checks dy (shape of y) and dx (when not null, shape of x) for backward.
void check_backward_args(const Layer& l, const Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy,
                         const Tensor* dx);

// Makes t a tensor of `shape`, `dtype` on ctx's device, reallocating only
// when it is not one already. Contents are unspecified after a reallocation.
void ensure_tensor(Tensor& t, const Shape& shape, DType dtype, const Context& ctx);

// Runs f(float{}) or f(double{}) for an F32 or F64 tensor (CPU paths).
template <class F>
void dispatch_float(const Layer& l, DType t, F&& f) {
  if (t == DType::F32) return f(float{});
  if (t == DType::F64) return f(double{});
  DEFTNN_FAIL("{}: element type {} is not supported (F32, or F64 on the CPU)", layer_label(l), dtype_name(t));
}

// The (N, C, H, W) of a rank-4 input, or a throw naming the layer.
struct Dims4 {
  int64_t n, c, h, w;
};
Dims4 require_nchw(const Layer& l, const Shape& in);

}  // namespace deftnn
