// BERT's embeddings: token ids (N, T) -> (N, T, H) rows of a word table
// (vocab, H), plus the position table's row t (when "positions" > 0) and the
// token-type table's row for each token's type (when "token_types" > 0; the
// type ids are the optional second input, type 0 without it), summed. A
// layernorm node follows in BERT's graph. Ids are F32 (whole numbers), I32,
// or F64 on the CPU; a wrong id (not whole, or outside the table) throws,
// naming the layer. Tables "word", "position", "token_type", initialised
// N(0, std^2) as BERT's.
// Backward overwrites the tables' gradients (scatter-add of the output
// gradient rows, in token order; on CUDA one thread per column walks the
// tokens: deterministic, no atomics, the CPU's additions in the CPU's order).
// Ids get no gradient: a requested one is written as zeros.
// Graph entry: {"type": "embedding", "name": ..., "vocab": V, "hidden": H,
//   "positions": 0, "token_types": 0, "std": 0.02,
//   "inputs": ["ids"] or ["ids", "token_type_ids"]}.
#pragma once

#include "layers/multi_tensor_layer.h"

namespace deftnn {

struct EmbeddingSizes {
  int64_t vocab = 0, hidden = 0, positions = 0, token_types = 0;
  double std = 0.02;
};

class EmbeddingLayer : public MultiTensorLayer {
 public:
  EmbeddingLayer(std::string name, const EmbeddingSizes& s);
  std::string type() const override { return "embedding"; }
  int min_inputs() const override { return 1; }
  int max_inputs() const override { return 2; }
  std::vector<Shape> infer_multi(const std::vector<Shape>& in) override;
  void init_params(Rng& rng) override;
  std::vector<Param*> params() override;
  void forward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<Tensor*>& y,
                     bool train) override;
  void backward_multi(Context& ctx, const std::vector<const Tensor*>& x, const std::vector<const Tensor*>& y,
                      const std::vector<const Tensor*>& dy, const std::vector<Tensor*>& dx) override;
  nlohmann::json config() const override;
  const EmbeddingSizes& sizes() const { return s_; }

 private:
  void check_ids(Context& ctx, const Tensor& ids, int64_t limit, const char* what) const;

  EmbeddingSizes s_;
  Param word_, position_, type_;
};

std::unique_ptr<Layer> make_embedding(const nlohmann::json& spec);

}  // namespace deftnn
