// The tokenizer file reader: DIR/tokenizer.json (vocab, normalizer,
// pre-tokenizer, WordPiece, truncation) and an encode of a fixed text.
#include "fuzz_input.h"
#include "data/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::write_input(data, size, "tokenizer.json");
  fuzz::expect_clean([&] {
    const auto tok = deftnn::data::WordPieceTokenizer::from_model_dir(fuzz::scratch_dir());
    (void)tok.encode("Hello, world! naïve café [SEP] 東京");
  });
  return 0;
}
