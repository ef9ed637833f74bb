// The WordPiece tokenizer of BERT-family encoders (all-MiniLM-L6-v2), giving
// the ids Hugging Face's `tokenizers` gives for the same tokenizer.json:
//   BertNormalizer   drop NUL, U+FFFD and control/format/private-use/unassigned
//                    characters; whitespace -> ' '; spaces around CJK
//                    ideographs; NFD and drop nonspacing marks (accents);
//                    lowercase (full mapping, one code point at a time)
//   BertPreTokenizer split on whitespace (dropped) and punctuation (kept, one
//                    character per word)
//   added tokens     ([CLS], [SEP], [MASK], ...) found verbatim in the raw
//                    text first, leftmost-longest; each is one word, untouched
//   WordPiece        greedy longest match, "##" before non-initial pieces, a
//                    word longer than max_input_chars_per_word or with no
//                    match is one [UNK]
//   post-processing  [CLS] ... [SEP], truncated to max_length ids in all
// Unicode properties and normalisation come from ICU.
//
// Loading checks what it reads and throws a deftnn::Error naming the file:
// missing, malformed JSON, a wrong type or value, an unsupported component.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace deftnn::data {

struct WordPieceOptions {
  // BertNormalizer
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool strip_accents = true;  // tokenizer.json's null means "as lowercase"
  bool lowercase = true;
  // WordPiece
  std::string unk_token = "[UNK]";
  std::string continuing_prefix = "##";
  int64_t max_input_chars_per_word = 100;
  // Post-processing
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  int64_t max_length = 512;  // ids per text, [CLS] and [SEP] included
  // Matched in the raw text before normalisation; each must be in the vocab.
  std::vector<std::string> added_tokens;
};

// Texts encoded together, padded on the right to the longest.
struct TokenBatch {
  int64_t batch = 0;
  int64_t seq_len = 0;
  std::vector<int32_t> ids;             // (batch, seq_len) row-major, pad id past each length
  std::vector<int32_t> attention_mask;  // (batch, seq_len) row-major, 1 on tokens, 0 on padding
  std::vector<int32_t> lengths;         // (batch) tokens per text, [CLS] and [SEP] included
};

class WordPieceTokenizer {
 public:
  // `vocab[i]` is the token of id i. Throws if a special token of `options`
  // is missing from it, a token repeats, or max_length < 2.
  WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options);

  // Reads DIR/tokenizer.json (vocab, normalizer, pre-tokenizer, WordPiece and
  // special tokens) and the max length: DIR/sentence_bert_config.json's
  // max_seq_length where that file exists (what sentence-transformers
  // truncates to), else tokenizer.json's truncation.max_length, else
  // DIR/config.json's max_position_embeddings.
  static WordPieceTokenizer from_model_dir(const std::string& dir);

  // The words after normalisation and pre-tokenisation (UTF-8). Throws on
  // text that is not valid UTF-8, naming the byte offset.
  std::vector<std::string> words(std::string_view text) const;
  // One word's WordPiece ids (no [CLS]/[SEP]).
  std::vector<int32_t> word_ids(std::string_view word) const;
  // [CLS] pieces [SEP], the pieces truncated so that at most max_length ids result.
  std::vector<int32_t> encode(std::string_view text) const;
  TokenBatch encode_batch(const std::vector<std::string>& texts) const;

  const std::string& token(int32_t id) const;  // throws on an id outside the vocab
  int32_t id(const std::string& token) const;  // -1 when absent
  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
  const WordPieceOptions& options() const { return options_; }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }

 private:
  int32_t required_id(const std::string& token, const char* role) const;
  // Normalises and pre-tokenises text holding no added token, appending to `out`.
  void append_words(std::string_view text, std::vector<std::string>& out) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int32_t> ids_;
  WordPieceOptions options_;
  int32_t cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, unk_id_ = -1;
};

}  // namespace deftnn::data
