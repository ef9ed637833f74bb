// BERT encoders as sentence-transformers runs them (all-MiniLM-L6-v2):
// token ids -> embeddings (word + position + type 0) -> LayerNorm -> L
// encoder layers -> masked mean pooling -> L2 normalisation, built from the
// engine's layers as a graph for one sequence length T, with the weights
// of a Hugging Face model folder (model.safetensors, by their own names).
//
// One encoder layer ("encoder/layer/<l>/..." below; the graph's layer
// names are the Hugging Face module paths with '/' for '.'):
//   q, k, v = linear attention/self/{query,key,value} (x)
//   a       = attention attention/self (q, k, v, mask)
//   x1      = layernorm attention/output/LayerNorm (linear attention/output/dense (a) + x)
//   f       = linear output/dense (gelu intermediate/gelu (linear intermediate/dense (x1)))
//   out     = layernorm output/LayerNorm (f + x1)
// The graph's inputs are "ids" (N, T) (F32 whole numbers) and "mask"
// (N, T) (1 = token, 0 = padding); its output "normalize" (N, hidden).
//
// Reading a folder checks config.json (model_type bert, hidden_act gelu,
// absolute positions, sizes that fit) and modules.json (a Transformer, then
// Pooling with mean pooling only, then Normalize), and every tensor's
// presence, dtype and shape; each refusal is a deftnn::Error naming the file.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "net/bert_sve.h"
#include "net/net.h"
#include "plan/exec_plan.h"

namespace deftnn::bert {

struct BertConfig {
  int64_t hidden = 0, heads = 0, layers = 0, intermediate = 0, vocab = 0, max_positions = 0, type_vocab = 0;
  double layer_norm_eps = 1e-12;
};

// DIR/config.json, checked; throws naming the file and the key.
BertConfig read_config(const std::string& dir);
// Throws naming DIR/modules.json (or DIR/1_Pooling/config.json) unless the
// pipeline is Transformer -> Pooling (mean tokens only) -> Normalize.
void check_modules(const std::string& dir);

// The graph (docs/models.md, version 2) for sequences of exactly t tokens;
// the linear layers named in `sve` get its states as their "sve" entries
// (their weights are then (out, K'); layers/linear.h).
nlohmann::json bert_graph(const BertConfig& c, int64_t t, const BertSve* sve = nullptr);

// The Hugging Face tensor name of a parameter of bert_graph's layer
// ("encoder/layer/0/attention/self/query", "weight" ->
// "encoder.layer.0.attention.self.query.weight"; the embedding tables are
// embeddings.{word,position,token_type}_embeddings.weight).
std::string hf_tensor_name(const std::string& layer, const std::string& param);

struct EmbedOptions {
  // Sequences per forward pass. Sequences are sorted by length and each
  // batch is padded to its longest, rounded up to a multiple of 8 (at most
  // max_positions), so one net serves many batches.
  int64_t batch = 32;
  // Called after every batch with (sequences done, total).
  std::function<void(int64_t, int64_t)> progress;
};

class BertEncoder {
 public:
  // Reads and checks DIR/config.json, DIR/modules.json and
  // DIR/model.safetensors (the weights stay on the CPU until a run on the GPU).
  static BertEncoder load(const std::string& dir);
  // An encoder from a config and the tensors by their Hugging Face names
  // (`source` names them in errors); shapes and dtypes checked.
  static BertEncoder from_tensors(const BertConfig& c, std::map<std::string, Tensor> tensors,
                                  const std::string& source);

  const BertConfig& config() const { return config_; }
  int64_t dim() const { return config_.hidden; }
  // A tensor of the dense model by its Hugging Face name (CPU).
  const Tensor& tensor(const std::string& hf_name) const;

  // Eliminates the layers `s` names (bert_sve.h): from now on their nets
  // gather the kept input columns and run the truncated weights; the other
  // layers stay dense. Replaces any earlier states. Throws an Error naming
  // s.source and the layer unless every layer is one of the linear layers,
  // its original_k is that layer's input features and its weight is
  // (out features, K') with a bias of (out features).
  void set_sve(BertSve s);
  void clear_sve() { set_sve(BertSve{}); }
  const BertSve& sve() const { return sve_; }
  // The eliminated layers' truncated weights and biases (CPU) for a trainer
  // that updates them in place (train/embed_distill.h): every net already
  // made on the CPU shares these tensors, so an update reaches them all; on
  // the GPU call sve_weights_changed afterwards. The states (kept columns)
  // must not change: set_sve is the way to replace them.
  BertSve& sve_for_update() { return sve_; }
  // Copies the CPU truncated weights and biases into the GPU copies the nets
  // on ctx's device share (nothing to do on the CPU).
  void sve_weights_changed(Context& ctx);

  // How the nets made from now on run their GEMM layers (the 36 linear
  // layers of all-MiniLM-L6-v2: precision, kernel, mixed-input weights;
  // plan/exec_plan.h): applied by make_net with plan::apply_plan, so a plan
  // the device cannot run is refused there, naming the layer. The default
  // plan is fp32 everywhere. Attention, LayerNorm and GELU stay fp32.
  void set_exec_plan(ExecPlan p) { plan_ = std::move(p); }
  const ExecPlan& exec_plan() const { return plan_; }

  // The net for sequences of t tokens on ctx's device, sharing this
  // encoder's weights (uploaded once per device), running exec_plan().
  Net make_net(Context& ctx, int64_t t);

  // One embedding per id list ([CLS] ... [SEP], as the tokenizer gives
  // them; 1 to max_positions ids each): a CPU tensor (count, hidden) in the
  // order given, computed on ctx's device.
  Tensor embed_ids(Context& ctx, const std::vector<std::vector<int32_t>>& ids, const EmbedOptions& o = {});

 private:
  BertEncoder() = default;
  BertConfig config_;
  std::string source_;
  std::map<std::string, Tensor> weights_;        // CPU, by Hugging Face name
  std::map<std::string, Tensor> device_weights_;  // the same on the GPU, once uploaded
  BertSve sve_;                                   // the eliminated layers (none by default)
  ExecPlan plan_;                                 // how the nets' GEMM layers run
  std::map<std::string, Tensor> device_sve_;      // their weights on the GPU, by Hugging Face name
};

// An SVE state for every linear layer at one density, for timing only: K' =
// the density's share of K rounded up to a multiple of 8 (at least 8, at most
// K; the rounding of scripts/svelm/eliminate.py kept_count), spread evenly
// over the columns, weight W[:, kept] and the dense bias (no folding: the
// numbers are not a model's, the shapes and the work are those of one).
BertSve spread_sve(const BertEncoder& e, double density);
// kept_count's K' for K columns at a density.
int64_t sve_kept_count(int64_t k, double density);

}  // namespace deftnn::bert
