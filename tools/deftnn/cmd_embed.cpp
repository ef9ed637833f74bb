// deftnn embed MODEL_DIR --text FILE --out OUT.npy: one sentence embedding
// per line of FILE (a BERT sentence-transformers model such as
// all-MiniLM-L6-v2: its tokenizer, encoder, mean pooling and L2
// normalisation), written as a float32 .npy of shape (lines, hidden).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "core/error.h"
#include "data/text_lines.h"
#include "data/tokenizer.h"
#include "device_option.h"
#include "net/bert.h"
#include "net/npy.h"
#include "output_path.h"
#include "plan_options.h"
#include "train/progress.h"

namespace {

struct EmbedArgs {
  std::string model_dir, text, out, sve;
  std::optional<deftnn::Device> device;
  int64_t batch = 32;
  bool quiet = false;
  deftnn::plan::PlanFlags plan;
};

std::vector<std::string> read_lines(const std::string& path) {
  auto lines = deftnn::data::read_text_lines(path, /*skip_blank=*/false);  // a blank line is a text too
  DEFTNN_CHECK(!lines.empty(), "{}: no lines to embed (the file is empty)", path);
  return lines;
}

void run_embed(const EmbedArgs& a) {
  using namespace deftnn;
  check_writable(a.out);
  const auto lines = read_lines(a.text);
  auto encoder = bert::BertEncoder::load(a.model_dir);
  if (!a.sve.empty()) encoder.set_sve(bert::read_bert_sve(a.sve));  // checked against the model before any work
  encoder.set_exec_plan(plan::from_flags(a.plan));  // checked against the net by its first batch
  const auto tok = data::WordPieceTokenizer::from_model_dir(a.model_dir);
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    try {
      ids.push_back(tok.encode(lines[i]));
    } catch (const Error& e) {
      DEFTNN_FAIL("{} line {}: {}", a.text, i + 1, e.what());
    }
  }
  auto ctx = Context::make(resolve_device(a.device));
  train::ItemProgress progress(!a.quiet, "embed", "sentences", int64_t(ids.size()));
  bert::EmbedOptions o;
  o.batch = a.batch;
  o.progress = [&](int64_t done, int64_t) { progress.update(done); };
  const Tensor y = encoder.embed_ids(*ctx, ids, o);
  progress.finish();
  write_npy(a.out, y);
  const Precision p = encoder.exec_plan().defaults.precision;
  fmt::print("wrote {} embeddings of {} ({}{}{}) to {}\n", y.dim(0), y.dim(1), device_name(ctx->device()),
             p == Precision::FP32 ? "" : std::string(", ") + precision_name(p), a.sve.empty() ? "" : ", SVE " + a.sve,
             a.out);
}

}  // namespace

void register_embed_command(CLI::App& app) {
  auto a = std::make_shared<EmbedArgs>();
  CLI::App* sub = app.add_subcommand("embed", "sentence embeddings of each line of a text file (BERT models such as "
                                              "all-MiniLM-L6-v2) as a float32 .npy");
  sub->add_option("model_dir", a->model_dir,
                  "the model's folder (config.json, modules.json, model.safetensors, tokenizer.json)")
      ->required();
  sub->add_option("--text", a->text, "UTF-8 text, one sentence per line")->required();
  sub->add_option("--out", a->out, "the .npy to write, shape (lines, hidden), written atomically")->required();
  sub->add_option("--sve", a->sve,
                  "an SVE file (src/net/bert_sve.h): its linear layers run eliminated (kept input columns, "
                  "truncated weights), e.g. from scripts/sve_minilm_study.py --write-sve");
  add_device_option(*sub, a->device);
  sub->add_option("--batch", a->batch, "sentences per forward pass (default 32)")->check(CLI::Range(1, 1 << 16));
  sub->add_flag("--quiet", a->quiet, "no progress on stderr");
  add_plan_options(*sub, a->plan);  // how the linear layers run (attention, LayerNorm, GELU stay fp32)
  sub->callback([a] { run_embed(*a); });
}
