// ReLU against an fp64 reference on CPU and CUDA, gradient check in double.
#include "layers/layer_test_util.h"

namespace deftnn::test {
namespace {

std::vector<double> relu_ref(const std::vector<double>& x, double slope) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] > 0 ? x[i] : slope * x[i];
  return y;
}

// x is fp32-exact, so y = x is exact; slope * x rounds once in fp32 (and
// slope itself once): 2 eps relative. Backward likewise on dy.
const Tolerance kTol{0, 2.4e-7, 0, 2.4e-7};

void check(Device dev) {
  uint64_t seed = 1;
  for (double slope : {0.0, 0.1})
    for (Shape s : {Shape{2, 3, 5, 7}, Shape{1, 1, 1, 1}, Shape{3, 17}}) {
      nlohmann::json spec = {{"type", "relu"}, {"name", "r"}, {"negative_slope", slope}};
      auto x = random_doubles(size_t(shape_numel(s)), seed++);
      check_layer(dev, spec, s, x, true, [&](const std::vector<double>& v) { return relu_ref(v, slope); }, kTol);
    }
}

TEST(Relu, CpuMatchesReference) { check(Device::CPU); }
TEST(Relu, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check(Device::CUDA);
}

TEST(Relu, GradientCheck) {
  Shape s{2, 3, 4, 5};
  for (double slope : {0.0, 0.25})
    gradient_check({{"type", "relu"}, {"name", "r"}, {"negative_slope", slope}}, s,
                   random_doubles(size_t(shape_numel(s)), 11), true);
}

}  // namespace
}  // namespace deftnn::test
