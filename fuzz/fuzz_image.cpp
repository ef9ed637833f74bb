// The image decoders (data/image_folder.h: libpng and libjpeg behind
// setjmp/longjmp) and what follows them: the channel conversion, the resize
// and the crop. The first byte picks the model input (channels 1, 3 or 4;
// H and W 1..16); the rest is the file. The pixel limit is 2^20 so that a
// header claiming a huge image is refused instead of exhausting the
// fuzzer's memory (the engine's own limit is kMaxImagePixels).
#include "data/image_folder.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t pick = data[0];
  const std::string path = fuzz::write_input(data + 1, size - 1, "in.img");
  deftnn::data::ImageFolderOptions o;
  const int64_t channels[3] = {1, 3, 4};
  o.input = {channels[pick % 3], 1 + (pick >> 2) % 16, 1 + (pick >> 4) % 16};
  if (pick & 0x80) o.mean = {0.5f}, o.std = {0.25f};
  o.max_pixels = int64_t(1) << 20;
  fuzz::expect_clean([&] { (void)deftnn::data::load_image_as_input(path, o); });
  return 0;
}
