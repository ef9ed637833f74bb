#include "data/loader.h"

#include <cstring>

#include "core/rng.h"

namespace deftnn::data {

namespace {
// SplitMix64 finaliser: decorrelates the per-epoch seeds.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

Loader::Loader(const Dataset& ds, LoaderOptions opt) : ds_(&ds), opt_(opt) {
  DEFTNN_CHECK(opt.batch > 0, "loader for {}: batch size {}", ds.name, opt.batch);
  DEFTNN_CHECK(ds.size() > 0, "loader for {}: empty dataset", ds.name);
  DEFTNN_CHECK(ds.images.dtype() == DType::U8 || ds.images.dtype() == DType::F32,
               "loader for {}: images are {}, expected U8 or F32", ds.name, dtype_name(ds.images.dtype()));
  seek(0, 0);
}

int64_t Loader::batches_per_epoch() const {
  int64_t n = ds_->size();
  return opt_.drop_last ? n / opt_.batch : (n + opt_.batch - 1) / opt_.batch;
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  int64_t n = ds_->size();
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
  if (!opt_.shuffle) return order;
  Rng rng(mix(mix(opt_.seed) ^ uint64_t(epoch)));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[size_t(i)], order[rng.below(uint64_t(i + 1))]);
  return order;
}

void Loader::seek(int64_t epoch, int64_t batch) {
  DEFTNN_CHECK(epoch >= 0 && batch >= 0 && batch <= batches_per_epoch(), "loader seek to epoch {} batch {}", epoch,
               batch);
  if (epoch != epoch_) order_ = epoch_order(epoch);
  epoch_ = epoch;
  batch_ = batch;
}

bool Loader::next(Context& ctx, Tensor& images, Tensor& labels) {
  if (batch_ >= batches_per_epoch()) return false;
  int64_t n = ds_->size(), begin = batch_ * opt_.batch, end = std::min(n, begin + opt_.batch), b = end - begin;
  Shape shape = ds_->images.shape();
  shape[0] = b;
  int64_t row = shape_numel(shape) / b;
  if (!host_images_.defined() || host_images_.dim(0) != b) {
    host_images_ = Tensor::empty(shape, DType::F32);
    host_labels_ = Tensor::empty({b}, DType::I32);
  }
  float* dst = host_images_.data<float>();
  int32_t* lab = host_labels_.data<int32_t>();
  const int32_t* src_lab = ds_->labels.data<int32_t>();
  for (int64_t i = 0; i < b; ++i) {
    int64_t k = order_[size_t(begin + i)];
    lab[i] = src_lab[k];
    if (ds_->images.dtype() == DType::F32) {
      std::memcpy(dst + i * row, ds_->images.data<float>() + k * row, size_t(row) * sizeof(float));
    } else {
      const uint8_t* s = ds_->images.data<uint8_t>() + k * row;
      for (int64_t j = 0; j < row; ++j) dst[i * row + j] = float(s[j]) * (1.f / 255.f);
    }
  }
  ++batch_;
  if (!ctx.is_cuda()) {
    images = host_images_;
    labels = host_labels_;
    return true;
  }
  if (!dev_images_.defined() || dev_images_.dim(0) != b) {
    dev_images_ = Tensor::empty(shape, DType::F32, Device::CUDA);
    dev_labels_ = Tensor::empty({b}, DType::I32, Device::CUDA);
  }
  // Pageable host memory: the copy has left the host buffer when it returns,
  // so the next call may refill it.
  dev_images_.copy_from(host_images_, ctx);
  dev_labels_.copy_from(host_labels_, ctx);
  images = dev_images_;
  labels = dev_labels_;
  return true;
}

}  // namespace deftnn::data
