// Tensor: a shape, an element type and a reference-counted buffer on the CPU
// or on a CUDA device. Always contiguous and row-major (C order); views
// (reshape, a range of the leading dimension) share the buffer.
//
// Layout convention for images: (N, C, H, W). For GEMM operands: (rows, cols).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/dtype.h"
#include "core/error.h"

namespace deftnn {

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);  // "(128, 3, 227, 227)"

// Owns one allocation on one device. Freed when the last Tensor goes.
// DEFTNN_POISON_HOST=1: host tensors and workspaces are filled with 0xff
// bytes (NaN as floats) when allocated, so a read before a write shows.
bool poison_host_allocations();

class Storage {
 public:
  Storage(size_t bytes, Device device);  // throws OutOfMemory
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

class Tensor {
 public:
  Tensor() = default;
  // Uninitialised memory. Tests poison it; layers overwrite it.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  // Zero-filled; on CUDA the fill is queued on ctx's stream.
  static Tensor zeros(const Shape& shape, const Context& ctx, DType dtype = DType::F32);
  // A CPU tensor holding a copy of `values`.
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const;  // negative i counts from the end
  int ndim() const { return int(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::CPU; }
  bool is_cuda() const { return device() == Device::CUDA; }

  void* raw() const { return static_cast<char*>(storage_->data()) + offset_; }
  template <class T> T* data() const {
    DEFTNN_CHECK(defined(), "data() on an undefined tensor");
    DEFTNN_CHECK(dtype_of<T>() == dtype_, "tensor holds {}, asked for {}", dtype_name(dtype_),
                 dtype_name(dtype_of<T>()));
    return static_cast<T*>(raw());
  }

  // A view with another shape of the same element count.
  Tensor reshape(const Shape& shape) const;
  // A view of rows [begin, end) of the leading dimension.
  Tensor slice0(int64_t begin, int64_t end) const;

  // A copy on `device` (same device: a deep copy). CUDA copies use ctx's
  // stream; a copy to the CPU synchronises it.
  Tensor to(Device device, const Context& ctx) const;
  // Copies src's elements into this tensor (same numel and dtype, any devices).
  void copy_from(const Tensor& src, const Context& ctx);
  // Sets every byte to zero / every F32 element to v.
  void zero_(const Context& ctx);
  void fill_(float v, const Context& ctx);

  // Host copy of an F32 tensor's elements, for tests and I/O.
  std::vector<float> to_vector(const Context& ctx) const;

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;  // bytes
  Shape shape_;
  DType dtype_ = DType::F32;
};

}  // namespace deftnn
