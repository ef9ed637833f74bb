// Synapse vector elimination on a BERT encoder's linear layers: the SVE file
// (an overlay on a Hugging Face model folder) and the elimination states the
// encoder's graph carries (net/bert.h applies them).
//
// Each of the 6 linear layers per encoder layer (attention/self/{query,key,
// value}, attention/output/dense, intermediate/dense, output/dense) may carry
// an SveState: its input features `kept` (K' of K, in the truncated weight's
// column order), the truncated weight W' (out, K') and its bias b' (out) (the
// elimination may fold the dropped columns' mean into the bias). The Linear
// layer then gathers the kept input columns and runs the (N*T, K') x (K', out)
// GEMM (layers/linear.h); nothing else changes.
//
// The file reuses the engine's model-file conventions (net/net.cpp,
// synapse/sve_apply.h) for the parts it holds:
//   safetensors, tensors "<layer>.weight" (out, K') F32 and "<layer>.bias" (out) F32,
//   the layer names those of bert_graph ("encoder/layer/0/attention/self/query");
//   __metadata__ "deftnn.sve":  JSON {"<layer>": {"original_k", "kept", "swaps", "transform"}}
//                               (each value the graph's "sve" entry, sve_to_json's form);
//   __metadata__ "deftnn.meta": a JSON object (method, density, where it came from), optional;
//   __metadata__ "deftnn.sve_format": "bert-sve-1".
// It holds only the eliminated layers: the embeddings, the layer norms and
// the dense layers come from the model folder. (A full deftnn model file,
// what `deftnn optimize` writes, fixes one sequence length and repeats the
// 90 MB of dense weights; the encoder builds one net per padded length.)
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "synapse/sve_state.h"

namespace deftnn::bert {

struct BertConfig;

struct BertSveLayer {
  SveState state;  // original_k = the layer's input features K; kept K' of them
  Tensor weight;   // (out, K') F32, CPU
  Tensor bias;     // (out) F32, CPU
};

struct BertSve {
  std::map<std::string, BertSveLayer> layers;  // by bert_graph layer name
  nlohmann::json meta = nlohmann::json::object();
  std::string source;  // the file it was read from (named in errors), or a label
};

// The linear layers of a config, in graph order: 6 per encoder layer.
std::vector<std::string> bert_linear_layers(const BertConfig& c);

// Reads and checks an SVE file (its own consistency: every layer's entry
// parses, kept is a valid subset of [0, original_k), its weight is (out, K')
// and its bias (out), both F32, and no tensor lies outside an entry). Whether
// it fits a model is BertEncoder::set_sve's check. Errors name the file and
// the layer.
BertSve read_bert_sve(const std::string& path);
void write_bert_sve(const std::string& path, const BertSve& s);
// A copy whose tensors own their own storage (Tensor copies share it), for a
// trainer that must not change the caller's weights.
BertSve clone_bert_sve(const BertSve& s);

}  // namespace deftnn::bert
