// Datasets: readers for IDX (MNIST, Fashion-MNIST) and CIFAR-10 binary files,
// the in-memory Dataset, normalisation, padding and the validation split.
//
// Every reader checks what it reads and throws a deftnn::Error naming the
// file: missing file, bad magic, truncated data, images/labels count mismatch.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace deftnn::data {

// Images and labels held on the CPU.
struct Dataset {
  std::string name;    // "fashion-mnist/train", ...
  Tensor images;       // (N, C, H, W) U8 raw pixels or F32 normalised
  Tensor labels;       // (N) I32 in [0, classes)
  int64_t classes = 10;

  int64_t size() const { return labels.defined() ? labels.dim(0) : 0; }
  Shape image_shape() const;  // (C, H, W)
};

enum class Split { Train, Test };

// The magic numbers of the IDX files we read (unsigned byte data, 3 or 1 dims).
constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;

// Reads one IDX file (gzip-compressed or plain; zlib reads both). Returns a
// U8 tensor with the header's dimensions. `magic` is the expected magic.
Tensor read_idx(const std::string& path, uint32_t magic);

// The directory a dataset is read from when none is given: $DEFTNN_DATA_DIR,
// else the Debian package's /usr/share/datasets/fashion-mnist (Fashion-MNIST)
// or ./data/cifar-10-batches-bin (CIFAR-10).
std::string default_data_dir(const std::string& dataset);
std::vector<std::string> known_datasets();  // "fashion-mnist", "cifar10"

// {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz in dir; images (N, 1, 28, 28).
Dataset load_fashion_mnist(const std::string& dir, Split split);
// Records of 1 label byte + 3072 pixel bytes (3 planes of 32x32).
Dataset read_cifar10_file(const std::string& path);
// data_batch_1..5.bin (train) or test_batch.bin (test) in dir; (N, 3, 32, 32).
Dataset load_cifar10(const std::string& dir, Split split);
// By name (known_datasets()); dir "" means default_data_dir(name).
Dataset load_dataset(const std::string& name, const std::string& dir, Split split);

// Zero-pads U8 images by `pad` pixels on each side of H and W.
Dataset pad_images(const Dataset& ds, int64_t pad);

// Per-channel statistics of pixels scaled to [0, 1]. Computed on the training
// split and stored with the model (to_json) so evaluation uses the same numbers.
struct Normalization {
  std::vector<float> mean, std;  // one per channel
  nlohmann::json to_json() const;
  static Normalization from_json(const nlohmann::json& j);
};
Normalization compute_normalization(const Dataset& train);
// U8 -> F32: (x / 255 - mean[c]) / std[c].
Dataset normalize(const Dataset& ds, const Normalization& norm);

// Takes `n_val` images of `ds` at random (seeded) as a validation set; the
// rest is the training set. Both keep the original order of their images.
struct TrainValSplit {
  Dataset train, val;
};
TrainValSplit split_validation(const Dataset& ds, int64_t n_val, uint64_t seed);

// Images `indices` of ds, in that order.
Dataset subset(const Dataset& ds, const std::vector<int64_t>& indices, const std::string& name);

}  // namespace deftnn::data

namespace deftnn::data {

// Zero padding that makes images of shape `image` (C, H, W) fit a model input
// (C, H + 2p, W + 2p) (Fashion-MNIST 28x28 into CifarNet's 32x32: p = 2).
// Throws an Error naming both shapes when no such p >= 0 exists.
int64_t padding_to_fit(const Shape& image, const Shape& input, const std::string& dataset,
                       const std::string& model);

}  // namespace deftnn::data
