#include "core/tensor.h"

#include <cstdlib>
#include <cstring>

#ifdef DEFTNN_WITH_CUDA
#include "core/cuda_check.h"
#endif

namespace deftnn {

namespace {
// The most bytes one tensor may take: far above any real layer (CaffeNet's
// largest buffer at batch 256 is about 1 GiB), low enough that a malformed
// file asking for more fails with the numbers instead of exhausting memory.
constexpr uint64_t kMaxTensorBytes = uint64_t(64) << 30;
}  // namespace

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n)) DEFTNN_FAIL("shape {} has more elements than int64 can count", shape_str(s));
  return n;
}

std::string shape_str(const Shape& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + ")";
}

bool poison_host_allocations() {
  static const bool on = [] {
    const char* v = std::getenv("DEFTNN_POISON_HOST");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  size_t alloc = std::max<size_t>(bytes, 64);
  if (device == Device::CPU) {
    ptr_ = std::aligned_alloc(64, (alloc + 63) / 64 * 64);
    if (!ptr_)
      throw OutOfMemory(fmt::format("out of host memory: tensor of {} bytes", bytes), "aligned_alloc",
                        __FILE__, __LINE__);
    if (poison_host_allocations()) std::memset(ptr_, 0xff, alloc);  // NaN floats: reads before writes show
  } else {
#ifdef DEFTNN_WITH_CUDA
    DEFTNN_CUDA_CHECK(cudaMalloc(&ptr_, alloc));
#else
    DEFTNN_FAIL("cannot allocate on the GPU: {}", cuda_unavailable_reason());
#endif
  }
}

Storage::~Storage() {
  if (device_ == Device::CPU) {
    std::free(ptr_);
  } else {
#ifdef DEFTNN_WITH_CUDA
    cudaFree(ptr_);
#endif
  }
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) DEFTNN_CHECK(d >= 0, "negative dimension in shape {}", shape_str(shape));
  int64_t bytes = 0;
  // Over the cap is reported as out of memory: callers that shrink a batch
  // on OutOfMemory treat both alike.
  if (__builtin_mul_overflow(shape_numel(shape), int64_t(dtype_size(dtype)), &bytes) ||
      uint64_t(bytes) > kMaxTensorBytes)
    throw OutOfMemory(fmt::format("tensor {} of {} is larger than the limit of {} bytes per tensor", shape_str(shape),
                                  dtype_name(dtype), kMaxTensorBytes),
                      "bytes <= kMaxTensorBytes", __FILE__, __LINE__);
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, const Context& ctx, DType dtype) {
  Tensor t = empty(shape, dtype, ctx.device());
  t.zero_(ctx);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
  DEFTNN_CHECK(int64_t(values.size()) == shape_numel(shape), "{} values for shape {}", values.size(),
               shape_str(shape));
  Tensor t = empty(shape);
  std::memcpy(t.raw(), values.data(), values.size() * sizeof(float));
  return t;
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  if (i < 0) i += n;
  DEFTNN_CHECK(i >= 0 && i < n, "dimension {} of a tensor of shape {}", i, shape_str(shape_));
  return shape_[i];
}

Tensor Tensor::reshape(const Shape& shape) const {
  DEFTNN_CHECK(shape_numel(shape) == numel(), "cannot reshape {} to {}", shape_str(shape_), shape_str(shape));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  DEFTNN_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0],
               "slice [{}, {}) of shape {}", begin, end, shape_str(shape_));
  Tensor t = *this;
  int64_t row = numel() / std::max<int64_t>(shape_[0], 1);
  t.offset_ += size_t(begin * row) * dtype_size(dtype_);
  t.shape_[0] = end - begin;
  return t;
}

void Tensor::copy_from(const Tensor& src, const Context& ctx) {
  DEFTNN_CHECK(src.numel() == numel() && src.dtype() == dtype(), "copy {} {} into {} {}",
               dtype_name(src.dtype()), shape_str(src.shape()), dtype_name(dtype()), shape_str(shape()));
  if (nbytes() == 0) return;
  if (device() == Device::CPU && src.device() == Device::CPU) {
    std::memcpy(raw(), src.raw(), nbytes());
    return;
  }
#ifdef DEFTNN_WITH_CUDA
  DEFTNN_CHECK(ctx.is_cuda(), "copy to or from the GPU needs a CUDA context");
  cudaStream_t s = ctx.stream();
  DEFTNN_CUDA_CHECK(cudaMemcpyAsync(raw(), src.raw(), nbytes(), cudaMemcpyDefault, s));
  if (device() == Device::CPU) DEFTNN_CUDA_CHECK(cudaStreamSynchronize(s));
#else
  DEFTNN_FAIL("copy to or from the GPU: {}", cuda_unavailable_reason());
#endif
}

Tensor Tensor::to(Device device, const Context& ctx) const {
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this, ctx);
  return t;
}

void Tensor::zero_(const Context& ctx) {
  if (nbytes() == 0) return;
  if (device() == Device::CPU) {
    std::memset(raw(), 0, nbytes());
    return;
  }
#ifdef DEFTNN_WITH_CUDA
  DEFTNN_CUDA_CHECK(cudaMemsetAsync(raw(), 0, nbytes(), ctx.stream()));
#endif
}

void Tensor::fill_(float v, const Context& ctx) {
  DEFTNN_CHECK(dtype_ == DType::F32, "fill_ needs an F32 tensor");
  if (device() == Device::CPU) {
    float* p = data<float>();
    for (int64_t i = 0; i < numel(); ++i) p[i] = v;
    return;
  }
  std::vector<float> host(size_t(numel()), v);
  copy_from(Tensor::from_vector(shape_, host), ctx);
  ctx.synchronize();  // the host vector dies here
}

std::vector<float> Tensor::to_vector(const Context& ctx) const {
  DEFTNN_CHECK(dtype_ == DType::F32, "to_vector needs an F32 tensor, this is {}", dtype_name(dtype_));
  std::vector<float> v(static_cast<size_t>(numel()));
  if (v.empty()) return v;
  if (device() == Device::CPU) {
    std::memcpy(v.data(), raw(), nbytes());
  } else {
#ifdef DEFTNN_WITH_CUDA
    DEFTNN_CUDA_CHECK(cudaMemcpyAsync(v.data(), raw(), nbytes(), cudaMemcpyDeviceToHost, ctx.stream()));
    DEFTNN_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
#endif
  }
  return v;
}

}  // namespace deftnn
