#include "data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/input_file.h"
#include "core/rng.h"

namespace deftnn::data {

Shape Dataset::image_shape() const {
  DEFTNN_CHECK(images.defined() && images.ndim() == 4, "dataset {} has no (N, C, H, W) images", name);
  return {images.dim(1), images.dim(2), images.dim(3)};
}

namespace {

// A gzip (or plain) file read through zlib; closes itself.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), size_(require_regular_file(path)) {
    f_ = gzopen(path.c_str(), "rb");
    DEFTNN_CHECK(f_ != nullptr, "{}: cannot open", path);
    gzbuffer(f_, 1 << 17);
  }
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  // Reads up to n bytes; returns how many were read. A corrupt stream throws.
  size_t read(void* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      unsigned chunk = unsigned(std::min<size_t>(n - done, 1u << 30));
      int got = gzread(f_, static_cast<char*>(dst) + done, chunk);
      if (got < 0) {
        int errnum = 0;
        const char* msg = gzerror(f_, &errnum);
        DEFTNN_FAIL("{}: corrupt or unreadable compressed data: {}", path_, msg ? msg : "unknown zlib error");
      }
      if (got == 0) break;
      done += size_t(got);
    }
    return done;
  }
  // The most bytes the rest of the file can hold after `consumed` were read:
  // exact for a plain file, deflate's best ratio (1032:1) for gzip.
  uint64_t max_remaining(uint64_t consumed) const {
    if (gzdirect(f_)) return size_ > consumed ? size_ - consumed : 0;
    return size_ * 1032 + 1024;
  }

 private:
  std::string path_;
  uint64_t size_;
  gzFile f_ = nullptr;
};

uint32_t be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

Tensor labels_to_i32(const Tensor& u8, int64_t classes, const std::string& path) {
  int64_t n = u8.numel();
  Tensor out = Tensor::empty({n}, DType::I32);
  const uint8_t* src = u8.data<uint8_t>();
  int32_t* dst = out.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    DEFTNN_CHECK(src[i] < classes, "{}: label {} of record {} is not in [0, {})", path, int(src[i]), i, classes);
    dst[i] = src[i];
  }
  return out;
}

std::string join(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

}  // namespace

Tensor read_idx(const std::string& path, uint32_t magic) {
  GzFile f(path);
  unsigned char head[4];
  DEFTNN_CHECK(f.read(head, 4) == 4, "{}: truncated: no IDX header", path);
  uint32_t got = be32(head);
  DEFTNN_CHECK(got == magic, "{}: bad magic 0x{:08x}, expected 0x{:08x} (IDX {})", path, got, magic,
               magic == kIdxImagesMagic ? "images" : magic == kIdxLabelsMagic ? "labels" : "file");
  int ndim = int(magic & 0xff);
  DEFTNN_CHECK(ndim >= 1 && ndim <= 4, "{}: IDX file with {} dimensions", path, ndim);
  Shape dims;
  for (int i = 0; i < ndim; ++i) {
    DEFTNN_CHECK(f.read(head, 4) == 4, "{}: truncated: IDX header ends after {} of {} dimensions", path, i, ndim);
    dims.push_back(int64_t(be32(head)));
  }
  Shape shape = dims;
  if (ndim == 3) shape = {dims[0], 1, dims[1], dims[2]};  // images: (N, 1, H, W)
  // Four 32-bit dimensions can overflow int64; the file must hold the data
  // before we allocate for it.
  uint64_t declared = 1;
  for (int64_t d : dims)
    DEFTNN_CHECK(!__builtin_mul_overflow(declared, uint64_t(d), &declared),
                 "{}: IDX header {} overflows a 64-bit size", path, shape_str(dims));
  const uint64_t room = f.max_remaining(uint64_t(4 + 4 * ndim));
  DEFTNN_CHECK(declared <= room, "{}: truncated: header says {} = {} bytes of data, the file can hold at most {}",
               path, shape_str(dims), declared, room);
  Tensor t = Tensor::empty(shape, DType::U8);
  size_t want = t.nbytes();
  size_t have = f.read(t.raw(), want);
  DEFTNN_CHECK(have == want, "{}: truncated: header says {} = {} bytes of data, file has {}", path,
               shape_str(dims), want, have);
  return t;
}

std::vector<std::string> known_datasets() { return {"fashion-mnist", "cifar10"}; }

std::string default_data_dir(const std::string& dataset) {
  if (const char* env = std::getenv("DEFTNN_DATA_DIR"); env && *env) return env;
  if (dataset == "cifar10") return "data/cifar-10-batches-bin";
  return "/usr/share/datasets/fashion-mnist";
}

Dataset load_fashion_mnist(const std::string& dir, Split split) {
  std::string prefix = split == Split::Train ? "train" : "t10k";
  std::string img_path = join(dir, prefix + "-images-idx3-ubyte.gz");
  std::string lbl_path = join(dir, prefix + "-labels-idx1-ubyte.gz");
  Tensor images = read_idx(img_path, kIdxImagesMagic);
  Tensor labels = read_idx(lbl_path, kIdxLabelsMagic);
  DEFTNN_CHECK(images.dim(0) == labels.dim(0), "{} holds {} images but {} holds {} labels", img_path,
               images.dim(0), lbl_path, labels.dim(0));
  Dataset ds;
  ds.name = "fashion-mnist/" + std::string(split == Split::Train ? "train" : "test");
  ds.images = images;
  ds.labels = labels_to_i32(labels, 10, lbl_path);
  ds.classes = 10;
  return ds;
}

Dataset read_cifar10_file(const std::string& path) {
  constexpr size_t kPixels = 3 * 32 * 32, kRecord = 1 + kPixels;
  const uint64_t size = require_regular_file(path);
  DEFTNN_CHECK(size > 0 && size % kRecord == 0,
               "{}: truncated: {} bytes is not a whole number of {}-byte CIFAR-10 records", path, size, kRecord);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  DEFTNN_CHECK(f != nullptr, "{}: cannot open", path);
  std::vector<unsigned char> bytes;
  unsigned char buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + got);
  std::fclose(f);
  DEFTNN_CHECK(!bytes.empty() && bytes.size() % kRecord == 0,
               "{}: truncated: {} bytes is not a whole number of {}-byte CIFAR-10 records", path, bytes.size(),
               kRecord);
  int64_t n = int64_t(bytes.size() / kRecord);
  Dataset ds;
  ds.name = path;
  ds.images = Tensor::empty({n, 3, 32, 32}, DType::U8);
  Tensor labels = Tensor::empty({n}, DType::U8);
  for (int64_t i = 0; i < n; ++i) {
    const unsigned char* rec = bytes.data() + size_t(i) * kRecord;
    labels.data<uint8_t>()[i] = rec[0];
    std::memcpy(ds.images.data<uint8_t>() + size_t(i) * kPixels, rec + 1, kPixels);
  }
  ds.labels = labels_to_i32(labels, 10, path);
  return ds;
}

Dataset load_cifar10(const std::string& dir, Split split) {
  std::vector<std::string> files;
  if (split == Split::Train)
    for (int i = 1; i <= 5; ++i) files.push_back(join(dir, "data_batch_" + std::to_string(i) + ".bin"));
  else
    files.push_back(join(dir, "test_batch.bin"));
  std::vector<Dataset> parts;
  int64_t n = 0;
  for (const auto& p : files) {
    parts.push_back(read_cifar10_file(p));
    n += parts.back().size();
  }
  Dataset ds;
  ds.name = "cifar10/" + std::string(split == Split::Train ? "train" : "test");
  ds.images = Tensor::empty({n, 3, 32, 32}, DType::U8);
  ds.labels = Tensor::empty({n}, DType::I32);
  int64_t at = 0;
  for (const auto& part : parts) {
    std::memcpy(ds.images.data<uint8_t>() + at * 3072, part.images.raw(), part.images.nbytes());
    std::memcpy(ds.labels.data<int32_t>() + at, part.labels.raw(), part.labels.nbytes());
    at += part.size();
  }
  return ds;
}

Dataset load_dataset(const std::string& name, const std::string& dir, Split split) {
  std::string d = dir.empty() ? default_data_dir(name) : dir;
  if (name == "fashion-mnist" || name == "fashion_mnist" || name == "mnist") return load_fashion_mnist(d, split);
  if (name == "cifar10" || name == "cifar-10") return load_cifar10(d, split);
  std::string known;
  for (const auto& k : known_datasets()) known += (known.empty() ? "" : ", ") + k;
  DEFTNN_FAIL("unknown dataset '{}' (known: {})", name, known);
}

Dataset pad_images(const Dataset& ds, int64_t pad) {
  DEFTNN_CHECK(ds.images.dtype() == DType::U8, "pad_images: {} is {}, pad the raw U8 images", ds.name,
               dtype_name(ds.images.dtype()));
  DEFTNN_CHECK(pad >= 0 && pad <= (int64_t(1) << 20), "pad_images: {}: pad {} (0 to 2^20)", ds.name, pad);
  DEFTNN_CHECK(ds.images.ndim() == 4, "pad_images: {}: images of shape {}, not (N, C, H, W)", ds.name,
               shape_str(ds.images.shape()));
  if (pad == 0) return ds;
  int64_t n = ds.images.dim(0), c = ds.images.dim(1), h = ds.images.dim(2), w = ds.images.dim(3);
  int64_t H = h + 2 * pad, W = w + 2 * pad;
  Dataset out = ds;
  out.images = Tensor::empty({n, c, H, W}, DType::U8);
  std::memset(out.images.raw(), 0, out.images.nbytes());
  const uint8_t* src = ds.images.data<uint8_t>();
  uint8_t* dst = out.images.data<uint8_t>();
  for (int64_t p = 0; p < n * c; ++p)
    for (int64_t y = 0; y < h; ++y)
      std::memcpy(dst + (p * H + y + pad) * W + pad, src + (p * h + y) * w, size_t(w));
  return out;
}

nlohmann::json Normalization::to_json() const { return {{"mean", mean}, {"std", std}}; }

Normalization Normalization::from_json(const nlohmann::json& j) {
  Normalization n;
  n.mean = j.at("mean").get<std::vector<float>>();
  n.std = j.at("std").get<std::vector<float>>();
  DEFTNN_CHECK(n.mean.size() == n.std.size() && !n.mean.empty(), "normalisation with {} means and {} stds",
               n.mean.size(), n.std.size());
  return n;
}

Normalization compute_normalization(const Dataset& train) {
  DEFTNN_CHECK(train.images.dtype() == DType::U8, "compute_normalization: {} holds {}, expected raw U8 images",
               train.name, dtype_name(train.images.dtype()));
  DEFTNN_CHECK(train.images.ndim() == 4, "compute_normalization: {}: images of shape {}, not (N, C, H, W)",
               train.name, shape_str(train.images.shape()));
  int64_t n = train.images.dim(0), c = train.images.dim(1), hw = train.images.dim(2) * train.images.dim(3);
  DEFTNN_CHECK(n > 0, "compute_normalization: {} is empty", train.name);
  const uint8_t* p = train.images.data<uint8_t>();
  Normalization norm;
  for (int64_t ch = 0; ch < c; ++ch) {
    // Integer sums are exact, so the statistics do not depend on the order.
    uint64_t s = 0, s2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* q = p + (i * c + ch) * hw;
      for (int64_t k = 0; k < hw; ++k) s += q[k], s2 += uint64_t(q[k]) * q[k];
    }
    double count = double(n) * double(hw);
    double mean = double(s) / count / 255.0;
    double var = double(s2) / count / (255.0 * 255.0) - mean * mean;
    norm.mean.push_back(float(mean));
    norm.std.push_back(float(std::sqrt(std::max(var, 1e-12))));
  }
  return norm;
}

Dataset normalize(const Dataset& ds, const Normalization& norm) {
  DEFTNN_CHECK(ds.images.dtype() == DType::U8, "normalize: {} is already {}", ds.name,
               dtype_name(ds.images.dtype()));
  int64_t n = ds.images.dim(0), c = ds.images.dim(1), hw = ds.images.dim(2) * ds.images.dim(3);
  DEFTNN_CHECK(int64_t(norm.mean.size()) == c, "normalize: {} has {} channels, the statistics have {}", ds.name,
               c, norm.mean.size());
  Dataset out = ds;
  out.images = Tensor::empty(ds.images.shape(), DType::F32);
  const uint8_t* src = ds.images.data<uint8_t>();
  float* dst = out.images.data<float>();
  for (int64_t ch = 0; ch < c; ++ch) {
    float lut[256];
    for (int v = 0; v < 256; ++v) lut[v] = (float(v) / 255.f - norm.mean[ch]) / norm.std[ch];
    for (int64_t i = 0; i < n; ++i) {
      int64_t off = (i * c + ch) * hw;
      for (int64_t k = 0; k < hw; ++k) dst[off + k] = lut[src[off + k]];
    }
  }
  return out;
}

Dataset subset(const Dataset& ds, const std::vector<int64_t>& indices, const std::string& name) {
  Shape shape = ds.images.shape();
  shape[0] = int64_t(indices.size());
  size_t row = ds.images.nbytes() / size_t(std::max<int64_t>(ds.size(), 1));
  Dataset out;
  out.name = name;
  out.classes = ds.classes;
  out.images = Tensor::empty(shape, ds.images.dtype());
  out.labels = Tensor::empty({int64_t(indices.size())}, DType::I32);
  const char* src = static_cast<const char*>(ds.images.raw());
  char* dst = static_cast<char*>(out.images.raw());
  for (size_t i = 0; i < indices.size(); ++i) {
    int64_t k = indices[i];
    DEFTNN_CHECK(k >= 0 && k < ds.size(), "subset: index {} outside {} of size {}", k, ds.name, ds.size());
    std::memcpy(dst + i * row, src + size_t(k) * row, row);
    out.labels.data<int32_t>()[i] = ds.labels.data<int32_t>()[k];
  }
  return out;
}

TrainValSplit split_validation(const Dataset& ds, int64_t n_val, uint64_t seed) {
  int64_t n = ds.size();
  DEFTNN_CHECK(n_val >= 0 && n_val < n, "validation split of {} images from {} of {} images", n_val, ds.name, n);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[size_t(i)] = i;
  Rng rng(seed ^ 0x5eed5a1171dull);
  for (int64_t i = n - 1; i > 0; --i) std::swap(perm[size_t(i)], perm[rng.below(uint64_t(i + 1))]);
  std::vector<int64_t> val(perm.begin(), perm.begin() + n_val), train(perm.begin() + n_val, perm.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  return {subset(ds, train, ds.name + "[train]"), subset(ds, val, ds.name + "[val]")};
}

}  // namespace deftnn::data

namespace deftnn::data {

int64_t padding_to_fit(const Shape& image, const Shape& input, const std::string& dataset, const std::string& model) {
  bool ok = image.size() == 3 && input.size() == 3 && image[0] == input[0] && input[1] >= image[1] &&
            input[1] - image[1] == input[2] - image[2] && (input[1] - image[1]) % 2 == 0;
  DEFTNN_CHECK(ok, "model {} takes input {} but dataset {} has images {} (only equal channels with even zero "
               "padding are adapted)", model, shape_str(input), dataset, shape_str(image));
  return (input[1] - image[1]) / 2;
}

}  // namespace deftnn::data
