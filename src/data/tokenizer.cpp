#include "data/tokenizer.h"

#include <limits>
#include <type_traits>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/input_file.h"

namespace deftnn::data {
namespace {

using Json = nlohmann::json;

// ---- Character classes, as Hugging Face's BertNormalizer / BertPreTokenizer define them.

bool is_whitespace(UChar32 c) {
  return c == '\t' || c == '\n' || c == '\r' || u_hasBinaryProperty(c, UCHAR_WHITE_SPACE);
}

// "Other" (Cc, Cf, Cn, Co, Cs), except \t \n \r, which count as whitespace.
bool is_control(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (u_charType(c)) {
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_UNASSIGNED:
    case U_PRIVATE_USE_CHAR:
    case U_SURROGATE:
      return true;
    default:
      return false;
  }
}

// ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or any
// Unicode P* category.
bool is_punctuation(UChar32 c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  switch (u_charType(c)) {
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

// The CJK Unified Ideographs blocks (BERT's definition: not Hiragana,
// Katakana or Hangul, which are written with spaces between words).
bool is_chinese_char(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::vector<UChar32> decode_utf8(std::string_view text) {
  std::vector<UChar32> out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const int32_t n = static_cast<int32_t>(text.size());
  DEFTNN_CHECK(text.size() <= static_cast<size_t>(INT32_MAX), "tokenizer: text of {} bytes is too long", text.size());
  for (int32_t i = 0; i < n;) {
    const int32_t at = i;
    UChar32 c;
    U8_NEXT(s, i, n, c);
    DEFTNN_CHECK(c >= 0, "tokenizer: text is not valid UTF-8 at byte {}", at);
    out.push_back(c);
  }
  return out;
}

void append_utf8(std::string& out, UChar32 c) {
  char buf[U8_MAX_LENGTH];
  int32_t len = 0;
  U8_APPEND_UNSAFE(reinterpret_cast<uint8_t*>(buf), len, c);  // c is a valid code point: buf always fits it
  out.append(buf, static_cast<size_t>(len));
}

// NFD, then every nonspacing mark (Mn) dropped.
std::vector<UChar32> strip_accents(const std::vector<UChar32>& cps) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
  DEFTNN_CHECK(U_SUCCESS(status), "tokenizer: ICU's NFD normaliser is unavailable: {}", u_errorName(status));
  icu::UnicodeString s = icu::UnicodeString::fromUTF32(cps.data(), static_cast<int32_t>(cps.size()));
  icu::UnicodeString d = nfd->normalize(s, status);
  DEFTNN_CHECK(U_SUCCESS(status), "tokenizer: NFD failed: {}", u_errorName(status));
  std::vector<UChar32> out;
  out.reserve(static_cast<size_t>(d.length()));
  for (int32_t i = 0; i < d.length();) {
    const UChar32 c = d.char32At(i);
    i = d.moveIndex32(i, 1);
    if (u_charType(c) != U_NON_SPACING_MARK) out.push_back(c);
  }
  return out;
}

// Full lowercase mapping of each code point on its own (no context: a final
// capital sigma becomes σ, not ς; İ becomes i + U+0307), as Rust's
// char::to_lowercase, which the tokenizers library uses.
void append_lowercase(std::vector<UChar32>& out, UChar32 c) {
  UChar src[2];
  int32_t src_len = 0;
  U16_APPEND_UNSAFE(src, src_len, c);
  UChar dst[8];
  UErrorCode status = U_ZERO_ERROR;
  const int32_t len = u_strToLower(dst, 8, src, src_len, "", &status);
  DEFTNN_CHECK(U_SUCCESS(status), "tokenizer: lowercasing U+{:04X} failed: {}", static_cast<uint32_t>(c),
               u_errorName(status));
  for (int32_t i = 0; i < len;) {
    UChar32 l;
    U16_NEXT(dst, i, len, l);
    out.push_back(l);
  }
}

// ---- Loading.

Json read_json(const std::filesystem::path& path) {
  // The common door: a regular file, at most 64 MiB, nesting limited, every
  // library error a deftnn::Error naming the file.
  return parse_json(read_text_file(path.string()), "tokenizer: " + path.string());
}

// obj[key] converted to T, with the file and key named on a missing key or a wrong type.
template <class T>
T get(const Json& obj, const char* key, const std::filesystem::path& file, const char* where) {
  DEFTNN_CHECK(obj.is_object() && obj.contains(key), "tokenizer: {}: {} has no \"{}\"", file.string(), where, key);
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // nlohmann converts a float such as 1e92 to an integer without a check
    // (undefined behaviour; found by fuzz/fuzz_tokenizer): integers only, in T's range.
    const Json& v = obj.at(key);
    const bool fits = v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max())
                      : v.is_number_integer() ? v.get<int64_t>() >= int64_t(std::numeric_limits<T>::min()) &&
                                                    v.get<int64_t>() <= int64_t(std::numeric_limits<T>::max())
                                              : false;
    DEFTNN_CHECK(fits || !v.is_number(), "tokenizer: {}: {}.{} must be an integer in [{}, {}], got {}", file.string(), where, key,
                 int64_t(std::numeric_limits<T>::min()), uint64_t(std::numeric_limits<T>::max()), json_excerpt(v));
  }
  try {
    return obj.at(key).get<T>();
  } catch (const Json::exception& e) {
    DEFTNN_FAIL("tokenizer: {}: {}.{} has the wrong type ({}): {}", file.string(), where, key,
                obj.at(key).type_name(), e.what());
  }
}

const Json& get_object(const Json& obj, const char* key, const std::filesystem::path& file, const char* where) {
  DEFTNN_CHECK(obj.is_object() && obj.contains(key) && obj.at(key).is_object(),
               "tokenizer: {}: {} has no object \"{}\"", file.string(), where, key);
  return obj.at(key);
}

int64_t read_max_length(const std::filesystem::path& dir, const Json& tok, const std::filesystem::path& tok_file) {
  const auto sbert = dir / "sentence_bert_config.json";
  if (std::filesystem::exists(sbert)) {
    return get<int64_t>(read_json(sbert), "max_seq_length", sbert, "the file");
  }
  if (tok.contains("truncation") && tok.at("truncation").is_object()) {
    return get<int64_t>(tok.at("truncation"), "max_length", tok_file, "truncation");
  }
  const auto config = dir / "config.json";
  DEFTNN_CHECK(std::filesystem::exists(config),
               "tokenizer: no max length in {}: no sentence_bert_config.json, no truncation in tokenizer.json, "
               "no config.json",
               dir.string());
  return get<int64_t>(read_json(config), "max_position_embeddings", config, "the file");
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  DEFTNN_CHECK(!vocab_.empty(), "tokenizer: empty vocabulary");
  DEFTNN_CHECK(vocab_.size() <= static_cast<size_t>(INT32_MAX), "tokenizer: vocabulary of {} tokens", vocab_.size());
  ids_.reserve(vocab_.size());
  for (size_t i = 0; i < vocab_.size(); ++i) {
    const bool fresh = ids_.emplace(vocab_[i], static_cast<int32_t>(i)).second;
    DEFTNN_CHECK(fresh, "tokenizer: token \"{}\" appears twice in the vocabulary (ids {} and {})", vocab_[i],
                 ids_.at(vocab_[i]), i);
  }
  DEFTNN_CHECK(options_.max_length >= 2, "tokenizer: max_length {} leaves no room for [CLS] and [SEP]",
               options_.max_length);
  DEFTNN_CHECK(options_.max_input_chars_per_word >= 1, "tokenizer: max_input_chars_per_word {} < 1",
               options_.max_input_chars_per_word);
  cls_id_ = required_id(options_.cls_token, "cls");
  sep_id_ = required_id(options_.sep_token, "sep");
  pad_id_ = required_id(options_.pad_token, "pad");
  unk_id_ = required_id(options_.unk_token, "unk");
  for (const std::string& a : options_.added_tokens) {
    DEFTNN_CHECK(!a.empty(), "tokenizer: an added token is empty");
    required_id(a, "added");
  }
}

int32_t WordPieceTokenizer::required_id(const std::string& token, const char* role) const {
  const int32_t i = id(token);
  DEFTNN_CHECK(i >= 0, "tokenizer: the {} token \"{}\" is not in the vocabulary ({} tokens)", role, token,
               vocab_.size());
  return i;
}

WordPieceTokenizer WordPieceTokenizer::from_model_dir(const std::string& dir) {
  const std::filesystem::path root(dir);
  const auto file = root / "tokenizer.json";
  DEFTNN_CHECK(std::filesystem::exists(file), "tokenizer: {} not found", file.string());
  const Json tok = read_json(file);
  DEFTNN_CHECK(tok.is_object(), "tokenizer: {} is not a JSON object", file.string());

  WordPieceOptions opt;
  const Json& model = get_object(tok, "model", file, "the file");
  const auto type = get<std::string>(model, "type", file, "model");
  DEFTNN_CHECK(type == "WordPiece", "tokenizer: {}: model.type is \"{}\"; only WordPiece is supported",
               file.string(), type);
  opt.unk_token = get<std::string>(model, "unk_token", file, "model");
  opt.continuing_prefix = get<std::string>(model, "continuing_subword_prefix", file, "model");
  opt.max_input_chars_per_word = get<int64_t>(model, "max_input_chars_per_word", file, "model");

  const Json& vocab_json = get_object(model, "vocab", file, "model");
  std::vector<std::string> vocab(vocab_json.size());
  std::vector<bool> seen(vocab.size(), false);
  for (const auto& [token, value] : vocab_json.items()) {
    DEFTNN_CHECK(value.is_number_integer(), "tokenizer: {}: model.vocab[\"{}\"] is a {}, not an integer id",
                 file.string(), token, value.type_name());
    const auto i = value.get<int64_t>();
    DEFTNN_CHECK(i >= 0 && i < static_cast<int64_t>(vocab.size()) && !seen[static_cast<size_t>(i)],
                 "tokenizer: {}: model.vocab[\"{}\"] = {}: ids must be 0..{} without repeats", file.string(),
                 token, i, vocab.size() - 1);
    seen[static_cast<size_t>(i)] = true;
    vocab[static_cast<size_t>(i)] = token;
  }

  const Json& norm = get_object(tok, "normalizer", file, "the file");
  const auto norm_type = get<std::string>(norm, "type", file, "normalizer");
  DEFTNN_CHECK(norm_type == "BertNormalizer", "tokenizer: {}: normalizer.type is \"{}\"; only BertNormalizer is "
               "supported", file.string(), norm_type);
  opt.clean_text = get<bool>(norm, "clean_text", file, "normalizer");
  opt.handle_chinese_chars = get<bool>(norm, "handle_chinese_chars", file, "normalizer");
  opt.lowercase = get<bool>(norm, "lowercase", file, "normalizer");
  DEFTNN_CHECK(norm.contains("strip_accents"), "tokenizer: {}: normalizer has no \"strip_accents\"", file.string());
  opt.strip_accents = norm.at("strip_accents").is_null() ? opt.lowercase
                                                         : get<bool>(norm, "strip_accents", file, "normalizer");

  const Json& pre = get_object(tok, "pre_tokenizer", file, "the file");
  const auto pre_type = get<std::string>(pre, "type", file, "pre_tokenizer");
  DEFTNN_CHECK(pre_type == "BertPreTokenizer", "tokenizer: {}: pre_tokenizer.type is \"{}\"; only BertPreTokenizer "
               "is supported", file.string(), pre_type);

  // [CLS] and [SEP] from the TemplateProcessing special tokens when present.
  if (tok.contains("post_processor") && tok.at("post_processor").is_object() &&
      tok.at("post_processor").contains("special_tokens")) {
    const Json& special = get_object(tok.at("post_processor"), "special_tokens", file, "post_processor");
    if (special.contains("[CLS]")) opt.cls_token = get<std::string>(special.at("[CLS]"), "id", file, "[CLS]");
    if (special.contains("[SEP]")) opt.sep_token = get<std::string>(special.at("[SEP]"), "id", file, "[SEP]");
  }
  if (tok.contains("padding") && tok.at("padding").is_object()) {
    opt.pad_token = get<std::string>(tok.at("padding"), "pad_token", file, "padding");
  }
  if (tok.contains("added_tokens")) {
    const Json& added = tok.at("added_tokens");
    DEFTNN_CHECK(added.is_array(), "tokenizer: {}: added_tokens is a {}, not an array", file.string(),
                 added.type_name());
    for (const Json& a : added) {
      const auto content = get<std::string>(a, "content", file, "added_tokens[]");
      for (const char* flag : {"single_word", "lstrip", "rstrip", "normalized"}) {
        DEFTNN_CHECK(!(a.contains(flag) && get<bool>(a, flag, file, "added_tokens[]")),
                     "tokenizer: {}: added token \"{}\" sets {}, which is not supported", file.string(), content,
                     flag);
      }
      const auto i = get<int64_t>(a, "id", file, "added_tokens[]");
      DEFTNN_CHECK(i >= 0 && i < static_cast<int64_t>(vocab.size()) && vocab[static_cast<size_t>(i)] == content,
                   "tokenizer: {}: added token \"{}\" has id {}, which model.vocab gives to another token",
                   file.string(), content, i);
      opt.added_tokens.push_back(content);
    }
  }
  opt.max_length = read_max_length(root, tok, file);
  try {
    return WordPieceTokenizer(std::move(vocab), std::move(opt));
  } catch (const Error& e) {
    DEFTNN_FAIL("{}: {}", file.string(), e.message());  // the inner check's location stays out of the message
  }
}

std::vector<std::string> WordPieceTokenizer::words(std::string_view text) const {
  decode_utf8(text);  // rejects invalid UTF-8 before anything is split
  std::vector<std::string> out;
  size_t from = 0;  // start of the text not yet split
  for (size_t at = 0; at < text.size();) {
    size_t longest = 0;
    for (const std::string& a : options_.added_tokens) {
      if (a.size() > longest && text.compare(at, a.size(), a) == 0) longest = a.size();
    }
    if (longest == 0) {
      ++at;
      continue;
    }
    append_words(text.substr(from, at - from), out);
    out.emplace_back(text.substr(at, longest));
    at += longest;
    from = at;
  }
  append_words(text.substr(from), out);
  return out;
}

void WordPieceTokenizer::append_words(std::string_view text, std::vector<std::string>& out) const {
  const std::vector<UChar32> in = decode_utf8(text);

  // BertNormalizer: clean text and space out CJK ideographs.
  std::vector<UChar32> cps;
  cps.reserve(in.size());
  for (const UChar32 c : in) {
    if (options_.clean_text) {
      if (c == 0 || c == 0xFFFD || is_control(c)) continue;
      if (is_whitespace(c)) {
        cps.push_back(' ');
        continue;
      }
    }
    if (options_.handle_chinese_chars && is_chinese_char(c)) {
      cps.insert(cps.end(), {' ', c, ' '});
    } else {
      cps.push_back(c);
    }
  }
  if (options_.strip_accents) cps = strip_accents(cps);
  if (options_.lowercase) {
    std::vector<UChar32> lower;
    lower.reserve(cps.size());
    for (const UChar32 c : cps) append_lowercase(lower, c);
    cps = std::move(lower);
  }

  // BertPreTokenizer: whitespace separates (and goes), punctuation stands alone.
  std::string word;
  for (const UChar32 c : cps) {
    if (is_whitespace(c) || is_punctuation(c)) {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
      if (!is_whitespace(c)) {
        out.emplace_back();
        append_utf8(out.back(), c);
      }
    } else {
      append_utf8(word, c);
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
}

std::vector<int32_t> WordPieceTokenizer::word_ids(std::string_view word) const {
  // Code point boundaries, in bytes; pieces start and end only there.
  std::vector<size_t> bounds;
  const auto* s = reinterpret_cast<const uint8_t*>(word.data());
  const int32_t n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n;) {
    bounds.push_back(static_cast<size_t>(i));
    UChar32 c;
    U8_NEXT(s, i, n, c);
  }
  bounds.push_back(word.size());
  const size_t chars = bounds.size() - 1;
  if (chars == 0) return {};
  if (static_cast<int64_t>(chars) > options_.max_input_chars_per_word) return {unk_id_};

  std::vector<int32_t> out;
  std::string piece;
  for (size_t start = 0; start < chars;) {
    int32_t found = -1;
    size_t end = chars;
    for (; end > start; --end) {
      piece.assign(start > 0 ? options_.continuing_prefix : std::string());
      piece.append(word.substr(bounds[start], bounds[end] - bounds[start]));
      const auto it = ids_.find(piece);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) return {unk_id_};  // any unmatched remainder makes the whole word unknown
    out.push_back(found);
    start = end;
  }
  return out;
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text) const {
  const size_t room = static_cast<size_t>(options_.max_length - 2);
  std::vector<int32_t> out{cls_id_};
  for (const std::string& w : words(text)) {
    for (const int32_t i : word_ids(w)) {
      if (out.size() - 1 == room) break;
      out.push_back(i);
    }
    if (out.size() - 1 == room) break;
  }
  out.push_back(sep_id_);
  return out;
}

TokenBatch WordPieceTokenizer::encode_batch(const std::vector<std::string>& texts) const {
  std::vector<std::vector<int32_t>> encoded;
  encoded.reserve(texts.size());
  TokenBatch b;
  b.batch = static_cast<int64_t>(texts.size());
  for (const auto& t : texts) {
    encoded.push_back(encode(t));
    b.seq_len = std::max<int64_t>(b.seq_len, static_cast<int64_t>(encoded.back().size()));
    b.lengths.push_back(static_cast<int32_t>(encoded.back().size()));
  }
  b.ids.assign(static_cast<size_t>(b.batch * b.seq_len), pad_id_);
  b.attention_mask.assign(static_cast<size_t>(b.batch * b.seq_len), 0);
  for (size_t r = 0; r < encoded.size(); ++r) {
    const size_t row = r * static_cast<size_t>(b.seq_len);
    std::copy(encoded[r].begin(), encoded[r].end(), b.ids.begin() + static_cast<std::ptrdiff_t>(row));
    std::fill_n(b.attention_mask.begin() + static_cast<std::ptrdiff_t>(row), encoded[r].size(), 1);
  }
  return b;
}

const std::string& WordPieceTokenizer::token(int32_t i) const {
  DEFTNN_CHECK(i >= 0 && static_cast<size_t>(i) < vocab_.size(), "tokenizer: id {} outside the vocabulary (0..{})",
               i, vocab_.size() - 1);
  return vocab_[static_cast<size_t>(i)];
}

int32_t WordPieceTokenizer::id(const std::string& t) const {
  const auto it = ids_.find(t);
  return it == ids_.end() ? -1 : it->second;
}

}  // namespace deftnn::data
