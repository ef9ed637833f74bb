// Linear (Caffe's InnerProduct): Y (N, out) = X (N, F) W^T + b, through
// gemm() with A = W (M = out, K = F), B = X stored (N, K) (trans_b) and C = Y
// stored (N, M) (trans_c). A (N, C, H, W) input is read as (N, C*H*W).
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

#include "gemm/packed_cache.h"
#include "layers/layer.h"
#include "synapse/sve_state.h"

namespace deftnn {

class Linear : public Layer {
 public:
  explicit Linear(const nlohmann::json& spec);
  std::string type() const override { return "linear"; }

  Shape infer(const Shape& in) override;
  void init_params(Rng& rng) override;
  std::vector<Param*> params() override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
  // The ReLU goes into the bias epilogue.
  bool can_fuse_relu() const override { return true; }
  void forward_fused_relu(Context& ctx, const Tensor& x, Tensor& y, float slope) override;

  bool has_gemm() const override { return true; }
  GemmShape gemm_shape(const Shape& in) const override;
  int64_t flops(const Shape& in) const override;

  // Installs an SVE state and its truncated weight (out, K'); infer() must
  // have run (F known). The weight's gradient is resized to match.
  void set_sve(SveState s, Tensor truncated_weight);
  // After the Net moved the params to ctx's device: moves kept/swaps there.
  void on_device_change(Context& ctx);
  void on_params_changed() override { packed_.invalidate(); }

  int64_t out_features() const { return out_; }
  int64_t in_features() const { return in_f_; }  // 0 until infer()
  int64_t gemm_k() const { return sve.active() ? int64_t(sve.kept.size()) : in_f_; }

  SveState sve;

 private:
  int64_t features(const Shape& in) const;
  void forward_impl(Context& ctx, const Tensor& x, Tensor& y, bool relu, float slope);

  PackedWeightCache packed_;  // the weight in the fission format (fission backend only)
  int64_t out_ = 0;
  bool has_bias_ = true;
  nlohmann::json filler_;
  float bias_value_ = 0.f;
  int64_t in_f_ = 0;
  Param weight_, bias_;
};

std::unique_ptr<Layer> make_linear(const nlohmann::json& spec);

}  // namespace deftnn
