// The IDX reader (plain and gzip) for images and labels, and the CIFAR-10
// record reader (data/dataset.h). The first byte picks the reader.
#include "fuzz_input.h"
#include "data/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t pick = data[0] % 4;
  const std::string name = pick == 1 ? "in.idx.gz" : pick == 3 ? "in.bin" : "in.idx";
  const std::string path = fuzz::write_input(data + 1, size - 1, name);
  fuzz::expect_clean([&] {
    if (pick == 3)
      (void)deftnn::data::read_cifar10_file(path);
    else
      (void)deftnn::data::read_idx(path, pick == 2 ? 0x00000801u : 0x00000803u);
  });
  return 0;
}
