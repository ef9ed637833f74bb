#include <gtest/gtest.h>

#include "core/context.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::string why = deftnn::cuda_unavailable_reason();
  if (!why.empty()) fprintf(stderr, "[deftnn] GPU tests will be SKIPPED: %s\n", why.c_str());
  return RUN_ALL_TESTS();
}
