// The safetensors reader: header, offsets, dtypes, shapes and __metadata__
// (whose JSON entries go through parse_json, as the model loader does).
#include "fuzz_input.h"
#include "core/input_file.h"
#include "net/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "in.safetensors");
  fuzz::expect_clean([&] {
    deftnn::TensorFile f = deftnn::read_safetensors(path);
    for (const auto& [k, v] : f.metadata)
      if (!v.empty() && (v[0] == '{' || v[0] == '[')) (void)deftnn::parse_json(v, path + ": " + k);
  });
  return 0;
}
