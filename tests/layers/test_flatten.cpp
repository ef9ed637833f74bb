// Flatten: shape inference, exact copies forward and backward, bad ranks.
#include "layers/layer_test_util.h"

namespace deftnn::test {
namespace {

const nlohmann::json kSpec = {{"type", "flatten"}, {"name", "flat"}};

void check(Device dev) {
  for (Shape s : {Shape{2, 3, 5, 7}, Shape{1, 1, 1, 1}, Shape{4, 9}}) {
    auto x = random_doubles(size_t(shape_numel(s)), 3);
    // A copy: exact.
    check_layer(dev, kSpec, s, x, true, [](const std::vector<double>& v) { return v; }, {0, 0, 0, 0});
  }
}

TEST(Flatten, InfersShape) {
  auto l = make_layer(kSpec);
  EXPECT_EQ(l->infer({128, 256, 6, 6}), (Shape{128, 9216}));
  EXPECT_EQ(l->infer({3, 10}), (Shape{3, 10}));
  try {
    l->infer({5});
    FAIL() << "rank 1 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'flat'"), std::string::npos) << e.what();
  }
}

TEST(Flatten, CpuMatchesReference) { check(Device::CPU); }
TEST(Flatten, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check(Device::CUDA);
}
TEST(Flatten, GradientCheck) { gradient_check(kSpec, {2, 3, 2, 2}, random_doubles(24, 5), true); }

}  // namespace
}  // namespace deftnn::test
