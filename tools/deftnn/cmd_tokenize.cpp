// deftnn tokenize --model-dir DIR --text FILE: the WordPiece ids of each line
// of FILE, with the tokenizer of the model in DIR (its tokenizer.json).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/output_file.h"
#include "data/tokenizer.h"

namespace {

struct TokenizeOptions {
  std::string model_dir, text, out;
};

void run_tokenize(const TokenizeOptions& o) {
  namespace fs = std::filesystem;
  using deftnn::data::WordPieceTokenizer;
  if (!o.out.empty()) deftnn::check_writable(o.out);  // before any work
  const auto tok = WordPieceTokenizer::from_model_dir(o.model_dir);
  std::ifstream in(o.text, std::ios::binary);
  DEFTNN_CHECK(in.good(), "cannot open {}", o.text);
  nlohmann::json ids = nlohmann::json::array();
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    try {
      ids.push_back(tok.encode(line));
    } catch (const deftnn::Error& e) {
      DEFTNN_FAIL("{} line {}: {}", o.text, n, e.what());
    }
  }
  if (o.out.empty()) {
    for (const auto& row : ids) fmt::print("{}\n", fmt::join(row.get<std::vector<int32_t>>(), " "));
    return;
  }
  const nlohmann::json report = {{"model_dir", o.model_dir},
                                 {"text", o.text},
                                 {"max_length", tok.options().max_length},
                                 {"ids", ids}};
  const fs::path out = o.out;
  deftnn::write_text_atomic(out.string(), report.dump() + "\n");
  fmt::print("wrote {} texts to {}\n", ids.size(), out.string());
}

}  // namespace

void register_tokenize_command(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* sub = app.add_subcommand("tokenize", "WordPiece token ids of each line of a text file");
  sub->add_option("--model-dir", o->model_dir, "the model's directory (with tokenizer.json)")->required();
  sub->add_option("--text", o->text, "UTF-8 text, one text per line")->required();
  sub->add_option("--out", o->out, "write {\"ids\": [[...], ...]} JSON here (default: one line of ids per text on stdout)");
  sub->callback([o] { run_tokenize(*o); });
}
