#include "test_util.h"

namespace deftnn::test {
namespace {

TEST(Tensor, ShapeAndViews) {
  Tensor t = random_tensor({4, 3, 2}, 7);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.dim(-1), 2);
  EXPECT_EQ(shape_str(t.shape()), "(4, 3, 2)");
  Tensor s = t.slice0(1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(s.data<float>()[0], t.data<float>()[6]);
  EXPECT_THROW(t.reshape({5, 5}), Error);
  EXPECT_THROW(t.slice0(3, 5), Error);
  EXPECT_THROW(t.data<int32_t>(), Error);
}

TEST(Tensor, CopiesRoundTripThroughGpu) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  Tensor t = random_tensor({1000}, 3);
  Tensor back = t.to(Device::CUDA, *ctx).to(Device::CPU, *ctx);
  EXPECT_EQ(back.to_vector(*ctx), t.to_vector(*ctx));
}

TEST(Context, GpuRequestWithoutGpuNamesTheReason) {
  if (cuda_available()) GTEST_SKIP() << "this machine has a GPU";
  try {
    Context::cuda();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no usable CUDA GPU"), std::string::npos) << e.what();
  }
}

TEST(DType, NamesRoundTrip) {
  for (DType t : {DType::F32, DType::F16, DType::U8, DType::I32, DType::I64})
    EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
  EXPECT_THROW(dtype_from_name("F128"), Error);
}

}  // namespace
}  // namespace deftnn::test

namespace deftnn::test {
namespace {

// Out-of-memory is a typed, clear error on both devices, never a crash.
TEST(Tensor, HostOutOfMemoryIsAnError) {
  try {
    Tensor::empty({int64_t(1) << 30, int64_t(1) << 29});  // 2^61 bytes: over the per-tensor cap
    FAIL() << "expected OutOfMemory";
  } catch (const OutOfMemory& e) {
    EXPECT_NE(std::string(e.what()).find("bytes per tensor"), std::string::npos) << e.what();
  }
}

TEST(Tensor, GpuOutOfMemoryIsAnError) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  // 32 GiB tensors (under the per-tensor limit) until the GPU is full: 16 of
  // them are more than any GPU of today holds.
  {
    std::vector<Tensor> held;
    bool oom = false;
    for (int i = 0; i < 16 && !oom; ++i) {
      try {
        held.push_back(Tensor::empty({int64_t(8) << 30}, DType::F32, Device::CUDA));
      } catch (const OutOfMemory& e) {
        oom = true;
        EXPECT_NE(std::string(e.what()).find("out of GPU memory"), std::string::npos) << e.what();
      }
    }
    EXPECT_TRUE(oom) << "16 tensors of 32 GiB fitted";
  }
  // The context is still usable afterwards.
  Tensor t = random_tensor({16}, 1).to(Device::CUDA, *ctx);
  EXPECT_EQ(t.to_vector(*ctx), random_tensor({16}, 1).to_vector(*ctx));
}

}  // namespace
}  // namespace deftnn::test
