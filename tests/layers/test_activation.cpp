// The activation layer (sigmoid, tanh, hardsigmoid, hardswish) and clip against fp64
// references on CPU and CUDA, gradient check in double. Inputs in [-4, 4]
// cover every piece of the piecewise ones.
#include <cmath>

#include "layers/layer_test_util.h"

namespace deftnn::test {
namespace {

double ref_value(const std::string& kind, double x) {
  if (kind == "sigmoid") return 1 / (1 + std::exp(-x));
  if (kind == "tanh") return std::tanh(x);
  if (kind == "hardsigmoid") return std::max(0.0, std::min(1.0, 0.25 * x + 0.375));
  return x * std::max(0.0, std::min(1.0, x / 6 + 0.5));
}

nlohmann::json spec_of(const std::string& kind) {
  nlohmann::json s = {{"type", "activation"}, {"name", "a"}, {"kind", kind}};
  if (kind == "hardsigmoid") s["alpha"] = 0.25, s["beta"] = 0.375;
  return s;
}

// fp32 expf/tanhf are within a few ulp: 4 eps32 relative, 1e-7 absolute near 0.
const Tolerance kTol{1e-7, 5e-7, 1e-7, 5e-7};
const char* kKinds[] = {"sigmoid", "tanh", "hardsigmoid", "hardswish"};

void check(Device dev) {
  uint64_t seed = 31;
  for (const char* kind : kKinds)
    for (Shape s : {Shape{2, 3, 5, 7}, Shape{3, 17}}) {
      auto x = random_doubles(size_t(shape_numel(s)), seed++, -4, 4);
      check_layer(dev, spec_of(kind), s, x, false,
                  [&](const std::vector<double>& v) {
                    std::vector<double> y;
                    for (double e : v) y.push_back(ref_value(kind, e));
                    return y;
                  },
                  kTol);
    }
}

TEST(Activation, CpuMatchesReference) { check(Device::CPU); }
TEST(Activation, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check(Device::CUDA);
}

TEST(Activation, GradientCheck) {
  for (const char* kind : kKinds)
    gradient_check(spec_of(kind), {2, 3, 4}, random_doubles(24, 12, -4, 4), true);
}

TEST(Activation, UnknownKindListsTheKnown) {
  try {
    make_layer({{"type", "activation"}, {"name", "a"}, {"kind", "swish"}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("sigmoid, tanh, hardsigmoid, hardswish"), std::string::npos) << e.message();
  }
}

void check_clip(Device dev) {
  const nlohmann::json spec = {{"type", "clip"}, {"name", "c"}, {"min", -0.5}, {"max", 0.75}};
  auto x = random_doubles(70, 5);
  check_layer(dev, spec, {2, 5, 7}, x, false,
              [](const std::vector<double>& v) {
                std::vector<double> y;
                for (double e : v) y.push_back(std::min(std::max(e, -0.5), 0.75));
                return y;
              },
              {0, 0, 0, 0});  // a clamp is exact
}

TEST(Clip, CpuMatchesReference) { check_clip(Device::CPU); }
TEST(Clip, CudaMatchesReference) {
  DEFTNN_REQUIRE_GPU();
  check_clip(Device::CUDA);
}
TEST(Clip, GradientCheck) {
  gradient_check({{"type", "clip"}, {"name", "c"}, {"min", 0.0}, {"max", 6.0}}, {2, 12},
                 random_doubles(24, 6, -8, 8), true);
}

}  // namespace
}  // namespace deftnn::test
