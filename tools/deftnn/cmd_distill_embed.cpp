// deftnn distill-embed MODEL_DIR --sve IN --text FILE --out OUT: recovers an
// eliminated BERT sentence encoder (an SVE overlay file, net/bert_sve.h) by
// distillation from the dense model on unlabelled text, one text per line
// (train/embed_distill.h), and writes the fine-tuned truncated weights as
// an SVE file of the same layers and kept columns (`deftnn embed --sve OUT`).
// A seeded share of the lines (--val) is held out and never trained on: the
// cosine of its embeddings to the dense model's, before and after, is printed
// and recorded in OUT's deftnn.meta (and in --report JSON).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <memory>
#include <optional>

#include "bench/timer.h"
#include "core/error.h"
#include "core/input_file.h"
#include "core/rng.h"
#include "data/tokenizer.h"
#include "device_option.h"
#include "net/bert.h"
#include "output_path.h"
#include "train/embed_distill.h"
#include "train/prepare.h"

namespace {

using json = nlohmann::json;

struct DistillEmbedArgs {
  std::string model_dir, sve, text, out, report;
  std::optional<deftnn::Device> device;
  int64_t steps = 200, batch = 16, max_len = 64, val = 100;
  double lr = 1e-4;
  uint64_t seed = 1;
  int threads = 2;
  bool quiet = false;
};

json cos_json(const deftnn::train::CosineStats& c) { return {{"mean", c.mean}, {"min", c.min}}; }

void run_distill_embed(const DistillEmbedArgs& a) {
  using namespace deftnn;
  check_writable(a.out);
  if (!a.report.empty()) check_writable(a.report);
  train::set_cpu_threads(a.threads);
  const auto lines = train::read_text_lines(a.text);
  auto enc = bert::BertEncoder::load(a.model_dir);
  enc.set_sve(bert::read_bert_sve(a.sve));  // checked against the model (layer, K, shapes) before any work
  DEFTNN_CHECK(!enc.sve().layers.empty(), "{}: eliminates no layer: nothing to distil", a.sve);
  DEFTNN_CHECK(a.max_len >= 2 && a.max_len <= enc.config().max_positions,
               "--max-len {}: must be in [2, {}] ([CLS] and [SEP] at least; the model's positions)", a.max_len,
               enc.config().max_positions);
  const auto tok = data::WordPieceTokenizer::from_model_dir(a.model_dir);
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    try {
      ids.push_back(tok.encode(lines[i]));
    } catch (const Error& e) {
      DEFTNN_FAIL("{} line {}: {}", a.text, i + 1, e.what());
    }
    auto& v = ids.back();
    if (int64_t(v.size()) > a.max_len) {  // cut as the study cuts: the first max_len - 1 ids, then [SEP]
      const int32_t sep = v.back();
      v.resize(size_t(a.max_len - 1));
      v.push_back(sep);
    }
  }
  // The held-out texts: a seeded random share, never trained on.
  Rng rng(a.seed ^ 0x5eed);
  for (size_t j = ids.size(); j > 1; --j) std::swap(ids[j - 1], ids[rng.below(j)]);
  DEFTNN_CHECK(a.val >= 0 && a.val < int64_t(ids.size()), "{}: {} texts, --val {} held out leaves none to train on",
               a.text, ids.size(), a.val);
  const std::vector<std::vector<int32_t>> val(ids.begin(), ids.begin() + a.val), train(ids.begin() + a.val, ids.end());

  auto ctx = Context::make(resolve_device(a.device));
  train::CosineStats before, after;
  Tensor dense_val;
  auto student_val = [&]() { return train::row_cosines(enc.embed_ids(*ctx, val), dense_val); };
  if (!val.empty()) {
    const bert::BertSve in = enc.sve();
    enc.clear_sve();
    dense_val = enc.embed_ids(*ctx, val);
    enc.set_sve(in);
    before = student_val();
    fmt::print(stderr, "held out {} texts: cosine to dense before: mean {:.4f} min {:.4f}\n", val.size(), before.mean,
               before.min);
  }
  train::EmbedDistillConfig cfg;
  cfg.steps = a.steps, cfg.batch = a.batch, cfg.seed = a.seed, cfg.progress = !a.quiet;
  cfg.adam.lr = a.lr;
  const train::EmbedDistillResult r = train::distill_embeddings(enc, *ctx, train, cfg);
  if (!val.empty()) {
    after = student_val();
    fmt::print(stderr, "held out {} texts: cosine to dense after:  mean {:.4f} min {:.4f}\n", val.size(), after.mean,
               after.min);
  }
  auto mean_of = [&](size_t from, size_t to) {
    double s = 0;
    for (size_t i = from; i < to; ++i) s += r.losses[i];
    return to > from ? s / double(to - from) : 0.0;
  };
  // The first and last epoch's mean loss, or quarter's when the run is shorter than four epochs (a
  // batch's loss depends on its texts: means over a window of distinct batches are what compare).
  const size_t n = r.losses.size(), w = std::max<size_t>(1, std::min<size_t>(size_t(r.batches), n / 4));
  json d = {{"from", a.sve},
            {"text", a.text},
            {"train_texts", train.size()},
            {"val_texts", val.size()},
            {"steps", a.steps},
            {"batch", a.batch},
            {"batches", r.batches},
            {"max_len", a.max_len},
            {"lr", a.lr},
            {"optimizer", "adam (beta1 0.9, beta2 0.999, eps 1e-8), constant rate"},
            {"seed", a.seed},
            {"loss", "mean over texts of 1/2 ||s - t||^2 (= 1 - cos for unit embeddings)"},
            {"trained", "W' and b' of every eliminated linear layer"},
            {"parameters", r.parameters},
            {"loss_window_steps", w},
            {"loss_first_window", mean_of(0, w)},
            {"loss_last_window", mean_of(n - w, n)},
            {"losses", r.losses},
            {"teacher_seconds", r.teacher_seconds},
            {"seconds", r.seconds},
            {"device", device_name(ctx->device())},
            {"commit", bench::git_commit()},
            {"date", bench::utc_iso_now()}};
  if (!val.empty()) d["val_cosine_before"] = cos_json(before), d["val_cosine_after"] = cos_json(after);
  bert::BertSve out = enc.sve();
  out.meta["distill"] = d;
  bert::write_bert_sve(a.out, out);
  if (!a.report.empty()) write_text_atomic(a.report, d.dump(1) + "\n");
  fmt::print("distilled {} layers ({} parameters) on {} texts, {} steps of {} in {:.1f} s: loss {:.5f} -> {:.5f} "
             "(first and last {} steps); wrote {}\n", out.layers.size(), r.parameters, train.size(), a.steps, a.batch,
             r.seconds, mean_of(0, w), mean_of(n - w, n), w, a.out);
}

}  // namespace

void register_distill_embed_command(CLI::App& app) {
  auto a = std::make_shared<DistillEmbedArgs>();
  CLI::App* sub = app.add_subcommand(
      "distill-embed", "recover an eliminated BERT sentence encoder (an SVE file) by distillation from the dense model "
                       "on unlabelled text; writes the fine-tuned SVE file");
  sub->add_option("model_dir", a->model_dir, "the model's folder (config.json, modules.json, model.safetensors, "
                                             "tokenizer.json): the dense teacher")
      ->required();
  sub->add_option("--sve", a->sve, "the SVE file to recover (src/net/bert_sve.h): its layers, kept columns and "
                                   "starting weights")
      ->required();
  sub->add_option("--text", a->text, "unlabelled UTF-8 text, one text per line (blank lines skipped)")->required();
  sub->add_option("--out", a->out, "the SVE file to write (same layers and kept columns, fine-tuned W' and b'), "
                                   "written atomically")
      ->required();
  sub->add_option("--steps", a->steps, "Adam updates, one batch each (default 200)")->check(CLI::Range(0, 1 << 24));
  sub->add_option("--lr", a->lr, "Adam's learning rate, constant (default 1e-4)")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--batch", a->batch, "texts per batch (default 16)")->check(CLI::Range(1, 1 << 16));
  sub->add_option("--max-len", a->max_len, "ids per text at most, [CLS] and [SEP] included (default 64)");
  sub->add_option("--val", a->val, "texts held out to measure the cosine to the dense model before and after "
                                   "(default 100; 0: none)");
  sub->add_option("--seed", a->seed, "held-out split and batch order (default 1)");
  sub->add_option("--threads", a->threads, "OpenBLAS threads (default 2)")->check(CLI::Range(1, 1024));
  sub->add_option("--report", a->report, "also write the run's record (losses, cosines, settings) as JSON");
  add_device_option(*sub, a->device);
  sub->add_flag("--quiet", a->quiet, "no progress on stderr");
  sub->callback([a] { run_distill_embed(*a); });
}
