// Linear (Caffe's InnerProduct): Y (N, out) = X (N, F) W^T + b, through
// gemm() with A = W (M = out, K = F), B = X stored (N, K) (trans_b) and C = Y
// stored (N, M) (trans_c). A (N, C, H, W) input is read as (N, C*H*W); a
// (N, T, F) input (tokens) is read as N*T rows of F and gives (N, T, out).
//
// Graph entry: {"type": "linear", "name", "out", "bias": true,
//   "weight_filler": {...}, "bias_value": 0, "sve": {...} (only when active)}.
//
// With an active SveState the weight is (out, K') and the forward feeds the
// kept input columns: gathered into a (N, K') workspace (Fused, Copy) or, for
// Swap, a copy of X with the swap pairs exchanged, read as its leading K'
// columns with ldb = F.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "layers/gemm_layer.h"

namespace deftnn {

class Linear : public GemmLayer {
 public:
  explicit Linear(const nlohmann::json& spec);
  std::string type() const override { return "linear"; }
  LayerKind kind() const override { return LayerKind::Linear; }

  Shape infer(const Shape& in) override;
  void init_params(Rng& rng) override;
  std::vector<Param*> params() override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
  // The ReLU goes into the bias epilogue.
  bool can_fuse_relu() const override { return true; }
  void forward_fused_relu(Context& ctx, const Tensor& x, Tensor& y, float slope) override;

  GemmShape gemm_shape(const Shape& in) const override;

  int64_t out_features() const { return out_; }
  int64_t in_features() const { return in_f_; }  // 0 until infer()
  int64_t full_k() const override { return in_f_; }

 private:
  int64_t features(const Shape& in) const;
  // Rows of the product: N, or N*T for a (N, T, F) input.
  static int64_t token_rows(const Shape& in);
  void forward_impl(Context& ctx, const Tensor& x, Tensor& y, bool relu, float slope);

  bool has_bias_ = true;
  nlohmann::json filler_;
  float bias_value_ = 0.f;
  int64_t in_f_ = 0;
  Param bias_;
};

std::unique_ptr<Layer> make_linear(const nlohmann::json& spec);

}  // namespace deftnn
