// The encoder benchmark behind `deftnn bench embed MODEL_DIR`: the BERT
// encoder's forward pass (ids, mask (N, T) -> embeddings (N, hidden)) timed
// dense and with SVE on its linear layers, one case per density or SVE file,
// at one batch shape (32 x 128 tokens by default, every token real).
//
// Every case gets its own net (net/bert.h make_net; the dense layers share
// the weights). The whole passes are timed interleaved, round by round (each
// round runs every case once, in turn, so clock and thermal drift reach all
// alike), as `deftnn bench --compare` does: CUDA events around a CUDA graph
// replay of the pass, or of eager launches when capture fails (recorded as
// "graph_error"; the embedding layer's id check reads a count back to the
// host, which a capture cannot hold), the steady clock on the CPU; warm-up
// rounds first; the median is the figure.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/context.h"
#include "net/bert.h"

namespace deftnn::bench {

struct EmbedBenchCase {
  std::string label;  // "dense", "density 0.50", a file name
  bert::BertSve sve;  // no layers: the dense encoder
  ExecPlan plan;      // how its GEMM layers run (default: fp32)
};

struct EmbedBenchOptions {
  int64_t batch = 32, tokens = 128;
  int warmup = 3, reps = 20;
  bool graph = true;  // CUDA graph replay (CUDA only)
  uint64_t seed = 1;  // of the random ids
  std::string model;  // the model's name in the report
  // Called with a line of progress (stage, round i of n).
  std::function<void(const std::string&)> progress;
};

// The report: {"what", "model", "commit", "date", "device", "environment",
// "batch", "tokens", "method", "warmup", "reps", "cases": [{"label",
// "precision", "plan", "density", "kept_columns", "total_columns",
// "linear_gflop", "timing", "speedup_vs_first"}]}. The first case is the one the speed-ups are
// relative to (the dense encoder, by the CLI's order).
nlohmann::json bench_embed(Context& ctx, bert::BertEncoder& encoder, const std::vector<EmbedBenchCase>& cases,
                           const EmbedBenchOptions& opt);

}  // namespace deftnn::bench
