// Conv2d, Caffe's convolution: per group g, Y_g (M, N) = W_g (M, K) x col_g (K, N)
// with M = out/groups, K = C_in/groups * kh * kw and N the output positions,
// through gemm() (the forward as its LayerExec says, the backward in plain fp32).
//
// Graph entry: {"type": "conv", "name", "out", "kernel": k | [kh, kw],
//   "stride": 1 | [sh, sw], "pad": 0 | [ph, pw], "groups": 1, "bias": true,
//   "weight_filler": {"type": "xavier"} | {"type": "gaussian", "std": 0.01},
//   "bias_value": 0, "sve": {...} (only with an active SveState)}.
//
// On the GPU a whole batch (up to kMaxColumnBytes of column matrix) goes
// through one im2col and ONE GEMM per group into (M, batch * Ho * Wo), then one
// kernel adds the bias and permutes to (N, C, H, W). On the CPU each image
// has its own GEMMs, written straight into y. At inference in a channel-major
// trunk (forward_inference with a CNHW output, docs/architecture.md) the GEMM
// writes y itself, in CNHW, and there is no permute.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "layers/gemm_layer.h"
#include "layers/im2col.h"

namespace deftnn {

class Conv2d : public GemmLayer {
 public:
  explicit Conv2d(const nlohmann::json& spec);
  ~Conv2d() override;
  std::string type() const override { return "conv"; }
  LayerKind kind() const override { return LayerKind::Conv; }

  Shape infer(const Shape& in) override;
  void init_params(Rng& rng) override;
  std::vector<Param*> params() override;
  void forward(Context& ctx, const Tensor& x, Tensor& y, bool train) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  nlohmann::json config() const override;
  // The ReLU goes into the bias + permute epilogue (on cuDNN: in bf16/fp16,
  // into the widening pass; not in fp32).
  bool can_fuse_relu() const override { return !cudnn() || cudnn16(); }
  void forward_fused_relu(Context& ctx, const Tensor& x, Tensor& y, float slope) override;
  // Inference: reads NCHW or CNHW (im2col takes the channel stride), writes
  // NCHW (bias + permute epilogue) or CNHW (the GEMM writes the output in
  // place, no permute); may defer bias + ReLU to its consumer, and applies a
  // producer's pending bias + ReLU inside im2col. Not on cuDNN.
  void forward_inference(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& args) override;
  bool supports_layout(Layout in, Layout out) const override {
    return !cudnn() || (in == Layout::NCHW && out == Layout::NCHW);
  }
  bool can_defer_epilogue() const override { return !cudnn(); }
  const float* deferred_bias() const override { return has_bias_ ? bias_.value.data<float>() : nullptr; }
  bool can_absorb_pending(float) const override { return !cudnn(); }

  GemmShape gemm_shape(const Shape& in) const override;

  int64_t out_channels() const { return out_; }
  int64_t groups() const { return groups_; }
  int64_t in_channels() const { return in_c_; }  // 0 until infer()
  int64_t kernel_h() const { return kh_; }
  int64_t kernel_w() const { return kw_; }
  // K of one group before SVE: C_in/groups * kh * kw.
  int64_t full_k() const override { return in_c_ / groups_ * kh_ * kw_; }

  // The forward runs through cuDNN's fp32 convolution (CUDNN_FMA_MATH, no
  // TF32) instead of im2col + gemm(): the second baseline, KernelFamily::Cudnn
  // in the layer's LayerExec (GPU only, no SVE).
  // In precision bf16 or fp16 the cuDNN forward runs on 16-bit tensors
  // (CUDNN_DATA_BFLOAT16 / HALF, fp32 accumulation, tensor cores allowed):
  // the input converted once per call, the weights once per input shape, and
  // the 16-bit output widened to fp32 with the bias and the ReLU in one pass.
  // Unlike im2row + GEMM, no column matrix is written (on CaffeNet b128 the
  // 16-bit im2row took 1.08 of 1.99 ms).
  bool cudnn() const { return exec().kernel == KernelFamily::Cudnn; }
  bool cudnn16() const {
    return cudnn() && (exec().precision == Precision::BF16 || exec().precision == Precision::FP16);
  }
  // The cuDNN forward algorithm chosen (cudnnFind, fastest FMA-math result in
  // fp32; fastest of the GEMM-based ones in bf16/fp16) for the last input
  // shape; "" before the first cuDNN forward.
  std::string library_algo() const override;

  // On the GPU, column matrices larger than this are split into several
  // batch chunks. DEFTNN_CONV_CHUNK_MB overrides it (benchmark experiments:
  // a chunk that fits in L2 turns the column matrix's HBM round trip into L2
  // traffic, at the price of smaller GEMMs).
  static constexpr int64_t kMaxColumnBytes = int64_t(1) << 30;
  static int64_t max_column_bytes();
  // Images per chunk (one im2col and one GEMM per group each); 0 = automatic
  // (CPU: 1, written straight into y; GPU: as many as kMaxColumnBytes allows).
  // Tests set it to run the batched (GPU) path on the CPU and to force chunks.
  int64_t chunk_images_override = 0;

 private:
  ConvGeom geom(const Shape& in) const;  // geometry of one group for input `in`
  void check_input(const Shape& in) const;
  void build_columns(Context& ctx, const float* x, const ConvGeom& g, int64_t nb, int64_t image_stride, float* col,
                     bool swap_allowed, const PendingAct* act = nullptr);
  int64_t chunk_images(const Context& ctx, int64_t N, int64_t bytes_per_image) const;
  void forward_cudnn(Context& ctx, const Tensor& x, Tensor& y, bool relu, float slope);  // relu: cudnn16() only
  void forward_impl(Context& ctx, const Tensor& x, Tensor& y, const InferArgs& args);

  int64_t kh_ = 1, kw_ = 1, sh_ = 1, sw_ = 1, ph_ = 0, pw_ = 0, groups_ = 1;
  bool has_bias_ = true;
  nlohmann::json filler_;
  float bias_value_ = 0.f;
  int64_t in_c_ = 0;
  Param bias_;

  struct CudnnPlan;
  std::shared_ptr<CudnnPlan> cudnn_;  // shared_ptr: CudnnPlan is complete only in conv_cudnn.cpp
};

std::unique_ptr<Layer> make_conv(const nlohmann::json& spec);

}  // namespace deftnn
