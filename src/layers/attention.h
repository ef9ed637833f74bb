// Multi-head scaled dot-product attention (BERT's self-attention core, after
// the query/key/value projections and before the output projection):
// inputs q, k, v (N, T, H*D) and the attention mask (N, T) (1 = token,
// 0 = padding), output (N, T, H*D); per sequence and head h (columns
// h*D .. h*D + D - 1):
//   S = q k^T / sqrt(D) + (1 - mask) * lowest,   out = softmax_rows(S) v
// with `lowest` the element type's lowest value (torch.finfo(dtype).min, as
// Hugging Face's BERT adds it): a padded key gets weight exactly 0 in a row
// with any token, and a row whose whole sequence is padding averages all
// values uniformly, as there. Padded query rows are computed like the others.
// Backward writes dq, dk and dv (each when asked for); the mask gets no
// gradient (a requested one is written as zeros). The layer keeps no state:
// backward recomputes the probabilities.
// CPU in F32 and F64; CUDA in F32 through cuBLAS (kernels/attention_kernels.h).
// Graph entry: {"type": "attention", "name": ..., "heads": H,
//   "inputs": ["q", "k", "v", "mask"]}.
#pragma once

#include "layers/multi_tensor_layer.h"

namespace deftnn {

class AttentionLayer : public MultiTensorLayer {
 public:
  AttentionLayer(std::string name, int64_t heads) : MultiTensorLayer(std::move(name)), heads_(heads) {}
  std::string type() const override { return "attention"; }
  int min_inputs() const override { return 4; }
  int max_inputs() const override { return 4; }
  std::vector<Shape> infer_multi(const std::vector<Shape>& in) override;
  void forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                     bool train) override;
  void backward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<const Tensor*>& y,
                      const std::vector<const Tensor*>& dy, const std::vector<Tensor*>& dx) override;
  nlohmann::json config() const override;
  int64_t flops(const Shape& in) const override;
  int64_t heads() const { return heads_; }

 private:
  int64_t heads_;
};

std::unique_ptr<Layer> make_attention(const nlohmann::json& spec);

}  // namespace deftnn
