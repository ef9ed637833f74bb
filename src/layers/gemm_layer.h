// GemmLayer: the seam shared by the layers whose forward is a GEMM of their
// weight matrix W (M, K) with an input matrix X (K, N) (Conv2d, Linear; later
// the transformer projections): the weight, its full K, the synapse vector
// elimination state, the LayerExec that says how the forward runs, and the
// weight packed for the fission kernels.
//
// Settings arrive through calls: set_exec() (from the execution plan) and
// set_sve() (elimination, the optimiser). Callers find a GEMM layer through
// Layer::as_gemm(), not by casting to each type.
#pragma once

#include <string>

#include "gemm/packed_cache.h"
#include "layers/layer.h"
#include "synapse/sve_state.h"
#include "plan/exec_plan.h"

namespace deftnn {

class GemmLayer : public Layer {
 public:
  using Layer::Layer;
  GemmLayer* as_gemm() override { return this; }
  const GemmLayer* as_gemm() const override { return this; }
  virtual LayerKind kind() const = 0;

  // K of one group before SVE (conv: C_in/groups * kh * kw; linear: input
  // features); 0 until infer().
  virtual int64_t full_k() const = 0;
  // K the forward GEMM runs with: K' = kept.size() under SVE, else full_k().
  int64_t gemm_k() const { return sve_.active() ? int64_t(sve_.kept.size()) : full_k(); }
  // Rows of the weight matrix, all groups together (the output channels or features).
  int64_t weight_rows() const { return out_; }
  // 2 * M * N * K * groups of gemm_shape(in).
  int64_t flops(const Shape& in) const override;

  const SveState& sve() const { return sve_; }
  // Installs an SVE state and its truncated weight (out, K'), K' = kept.size(),
  // or, with an inactive state, goes back to a dense weight (out * full K
  // elements, in the layer's own weight shape). infer() must have run (K
  // known); the weight's gradient is resized to match. The layer's run-time
  // transform becomes the state's.
  void set_sve(SveState s, Tensor weight);

  const LayerExec& exec() const { return exec_; }
  // How the forward runs from now on. Throws an Error naming the layer when
  // `e` cannot run this layer on any device (plan::check_plan checks the
  // device a net runs on) or asks for a transform the SVE state was not
  // built for.
  void set_exec(const LayerExec& e);

  // The library algorithm the last forward chose, for benchmark records;
  // "" when none (cuDNN's for a conv on kernel cudnn).
  virtual std::string library_algo() const { return {}; }

  // After the Net moved the params to ctx's device: drops the packed weight
  // and moves the SVE index lists there.
  void on_device_change(Context& ctx) override;
  void on_params_changed() override { packed_.invalidate(); }

 protected:
  // The GEMM plan of this layer's forward on ctx (resolved once per forward;
  // the packed-weight cache and gemm() both take it).
  GemmPlan forward_gemm_plan(const Context& ctx) const { return resolve_gemm(ctx, gemm_config(exec_)); }
  // The SVE index lists on ctx's device (uploaded on first use after a move).
  const SveState& sve_on(Context& ctx);
  // The "sve" entry of the graph, read by the constructor; infer() then
  // checks it against K and sizes the weight (out, K').
  void set_sve_from_config(SveState s) { sve_ = std::move(s); }

  int64_t out_ = 0;  // M of all groups
  Param weight_;     // (out, C_in/groups, kh, kw) or (out, F) dense; (out, K') under SVE
  PackedWeightCache packed_;  // the weight in the fission format, per group (fission backend only)

 private:
  SveState sve_;
  LayerExec exec_;
};

}  // namespace deftnn
