// The .npy reader (net/npy.h).
#include "fuzz_input.h"
#include "net/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "in.npy");
  fuzz::expect_clean([&] { (void)deftnn::read_npy(path); });
  return 0;
}
