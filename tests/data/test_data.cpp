// Readers (good and corrupt files), padding, normalisation, the validation
// split and the Loader. The files are written here, in a temporary directory.
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/dataset.h"
#include "data/loader.h"
#include "test_util.h"

namespace deftnn::test {
namespace {

namespace fs = std::filesystem;
using namespace deftnn::data;

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / (std::string("deftnn_data_") + info->test_suite_name() + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

std::vector<unsigned char> be32(uint32_t v) {
  return {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
}

void write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  if (!bytes.empty()) ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(f);
}

// IDX bytes: magic, dims, then `data_bytes` bytes of data (pixel k = k * 7 + 1 mod 256).
std::vector<unsigned char> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, size_t data_bytes,
                                     const std::vector<unsigned char>& data = {}) {
  std::vector<unsigned char> b = be32(magic);
  for (uint32_t d : dims) {
    auto x = be32(d);
    b.insert(b.end(), x.begin(), x.end());
  }
  for (size_t k = 0; k < data_bytes; ++k) b.push_back(k < data.size() ? data[k] : (unsigned char)(k * 7 + 1));
  return b;
}

// A small Fashion-MNIST-like pair of files: n images of h x w, label i % 10.
void write_fashion(const TempDir& dir, const std::string& prefix, uint32_t n_images, uint32_t n_labels,
                   uint32_t h = 4, uint32_t w = 3) {
  write_gz(dir.file(prefix + "-images-idx3-ubyte.gz"), idx_bytes(kIdxImagesMagic, {n_images, h, w}, n_images * h * w));
  std::vector<unsigned char> labels;
  for (uint32_t i = 0; i < n_labels; ++i) labels.push_back((unsigned char)(i % 10));
  write_gz(dir.file(prefix + "-labels-idx1-ubyte.gz"), idx_bytes(kIdxLabelsMagic, {n_labels}, n_labels, labels));
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Idx, ReadsImagesAndLabels) {
  TempDir dir;
  write_fashion(dir, "train", 5, 5);
  Tensor images = read_idx(dir.file("train-images-idx3-ubyte.gz"), kIdxImagesMagic);
  EXPECT_EQ(images.shape(), (Shape{5, 1, 4, 3}));
  EXPECT_EQ(images.dtype(), DType::U8);
  for (int64_t k = 0; k < images.numel(); ++k) ASSERT_EQ(images.data<uint8_t>()[k], uint8_t(k * 7 + 1)) << k;
  Dataset ds = load_fashion_mnist(dir.str(), Split::Train);
  EXPECT_EQ(ds.size(), 5);
  EXPECT_EQ(ds.image_shape(), (Shape{1, 4, 3}));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ds.labels.data<int32_t>()[i], i);
}

TEST(Idx, MissingFileIsAnErrorNamingIt) {
  TempDir dir;
  std::string msg = error_of([&] { read_idx(dir.file("nope.gz"), kIdxImagesMagic); });
  EXPECT_TRUE(contains(msg, dir.file("nope.gz"))) << msg;
  EXPECT_TRUE(contains(msg, "no such file")) << msg;
  msg = error_of([&] { load_fashion_mnist(dir.str(), Split::Test); });
  EXPECT_TRUE(contains(msg, "t10k-images-idx3-ubyte.gz")) << msg;
}

TEST(Idx, BadMagicIsAnErrorNamingTheFile) {
  TempDir dir;
  write_fashion(dir, "train", 3, 3);
  std::string path = dir.file("train-images-idx3-ubyte.gz");
  std::string msg = error_of([&] { read_idx(path, kIdxLabelsMagic); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "bad magic 0x00000803")) << msg;
  write_gz(path, idx_bytes(0x12345678, {3, 4, 3}, 36));
  msg = error_of([&] { load_fashion_mnist(dir.str(), Split::Train); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "bad magic 0x12345678")) << msg;
}

TEST(Idx, TruncatedDataIsAnErrorNamingTheFile) {
  TempDir dir;
  std::string path = dir.file("t.gz");
  write_gz(path, idx_bytes(kIdxImagesMagic, {5, 4, 3}, 4 * 12 + 7));  // 4.6 images of 5
  std::string msg = error_of([&] { read_idx(path, kIdxImagesMagic); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "truncated") && contains(msg, "60 bytes")) << msg;
  write_gz(path, {0, 0, 8, 3, 0, 0});  // header cut inside the dimensions
  msg = error_of([&] { read_idx(path, kIdxImagesMagic); });
  EXPECT_TRUE(contains(msg, path) && contains(msg, "truncated")) << msg;
}

TEST(Idx, CutCompressedStreamIsAnErrorNamingTheFile) {
  TempDir dir;
  std::string path = dir.file("cut.gz");
  write_gz(path, idx_bytes(kIdxImagesMagic, {50, 28, 28}, 50 * 784));
  auto size = fs::file_size(path);
  fs::resize_file(path, size / 2);
  std::string msg = error_of([&] { read_idx(path, kIdxImagesMagic); });
  EXPECT_TRUE(contains(msg, path)) << msg;
}

TEST(Idx, ImageAndLabelCountMismatchNamesBothFiles) {
  TempDir dir;
  write_fashion(dir, "t10k", 6, 5);
  std::string msg = error_of([&] { load_fashion_mnist(dir.str(), Split::Test); });
  EXPECT_TRUE(contains(msg, "t10k-images-idx3-ubyte.gz") && contains(msg, "t10k-labels-idx1-ubyte.gz") &&
              contains(msg, "6 images") && contains(msg, "5 labels"))
      << msg;
}

TEST(Idx, LabelOutOfRangeIsAnError) {
  TempDir dir;
  write_fashion(dir, "train", 2, 2);
  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_bytes(kIdxLabelsMagic, {2}, 2, {3, 12}));
  std::string msg = error_of([&] { load_fashion_mnist(dir.str(), Split::Train); });
  EXPECT_TRUE(contains(msg, "label 12")) << msg;
}

TEST(Idx, RealFashionMnistTestSet) {
  std::string dir = default_data_dir("fashion-mnist");
  if (!fs::exists(fs::path(dir) / "t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST not found in " << dir << " (install dataset-fashion-mnist or set DEFTNN_DATA_DIR)";
  Dataset ds = load_fashion_mnist(dir, Split::Test);
  EXPECT_EQ(ds.size(), 10000);
  EXPECT_EQ(ds.image_shape(), (Shape{1, 28, 28}));
  std::vector<int> count(10, 0);
  for (int64_t i = 0; i < ds.size(); ++i) {
    int32_t l = ds.labels.data<int32_t>()[i];
    ASSERT_TRUE(l >= 0 && l < 10) << "label " << l << " at " << i;
    ++count[size_t(l)];
  }
  for (int c = 0; c < 10; ++c) EXPECT_EQ(count[size_t(c)], 1000) << "class " << c;  // the test set is balanced
}

void write_cifar(const std::string& path, int records, size_t extra_bytes = 0) {
  std::ofstream out(path, std::ios::binary);
  for (int r = 0; r < records; ++r) {
    out.put(char(r % 10));
    for (int k = 0; k < 3072; ++k) out.put(char((r * 31 + k) % 251));
  }
  for (size_t k = 0; k < extra_bytes; ++k) out.put(char(1));
}

TEST(Cifar, ReadsRecordsAsPlanes) {
  TempDir dir;
  write_cifar(dir.file("test_batch.bin"), 3);
  Dataset ds = load_cifar10(dir.str(), Split::Test);
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.image_shape(), (Shape{3, 32, 32}));
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(ds.labels.data<int32_t>()[r], r);
    // Record bytes are R plane, G plane, B plane: (C, H, W) as they come.
    for (int k : {0, 1023, 1024, 2047, 3071})
      ASSERT_EQ(ds.images.data<uint8_t>()[r * 3072 + k], uint8_t((r * 31 + k) % 251)) << r << " " << k;
  }
}

TEST(Cifar, TrainSplitConcatenatesFiveBatches) {
  TempDir dir;
  for (int b = 1; b <= 5; ++b) write_cifar(dir.file("data_batch_" + std::to_string(b) + ".bin"), b);
  Dataset ds = load_cifar10(dir.str(), Split::Train);
  EXPECT_EQ(ds.size(), 1 + 2 + 3 + 4 + 5);
  fs::remove(dir.file("data_batch_4.bin"));
  std::string msg = error_of([&] { load_cifar10(dir.str(), Split::Train); });
  EXPECT_TRUE(contains(msg, "data_batch_4.bin")) << msg;
}

TEST(Cifar, TruncatedFileIsAnErrorNamingIt) {
  TempDir dir;
  write_cifar(dir.file("test_batch.bin"), 2, 100);
  std::string msg = error_of([&] { load_cifar10(dir.str(), Split::Test); });
  EXPECT_TRUE(contains(msg, dir.file("test_batch.bin")) && contains(msg, "truncated")) << msg;
}

// A U8 dataset whose image i holds i in its first two pixels, so a batch says
// which images it holds.
Dataset indexed_dataset(int64_t n, int64_t c = 1, int64_t h = 2, int64_t w = 2) {
  Dataset ds;
  ds.name = "indexed";
  ds.images = Tensor::empty({n, c, h, w}, DType::U8);
  ds.labels = Tensor::empty({n}, DType::I32);
  int64_t row = c * h * w;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < row; ++k) ds.images.data<uint8_t>()[i * row + k] = uint8_t((i * 3 + k) % 256);
    ds.images.data<uint8_t>()[i * row] = uint8_t(i % 256);
    ds.images.data<uint8_t>()[i * row + 1] = uint8_t(i / 256);
    ds.labels.data<int32_t>()[i] = int32_t(i % 10);
  }
  return ds;
}

int64_t index_of(const float* image) { return int64_t(std::lround(image[0] * 255)) + 256 * int64_t(std::lround(image[1] * 255)); }
int64_t index_of_u8(const uint8_t* image) { return int64_t(image[0]) + 256 * int64_t(image[1]); }

TEST(Dataset, PaddingAddsZeroBorders) {
  Dataset ds = indexed_dataset(2, 1, 2, 3);
  Dataset p = pad_images(ds, 2);
  EXPECT_EQ(p.image_shape(), (Shape{1, 6, 7}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t y = 0; y < 6; ++y)
      for (int64_t x = 0; x < 7; ++x) {
        uint8_t got = p.images.data<uint8_t>()[(i * 6 + y) * 7 + x];
        bool inside = y >= 2 && y < 4 && x >= 2 && x < 5;
        uint8_t want = inside ? ds.images.data<uint8_t>()[(i * 2 + y - 2) * 3 + x - 2] : 0;
        ASSERT_EQ(got, want) << i << " " << y << " " << x;
      }
  // Shapes the loops would trust: a pad that overflows H + 2 pad, images not (N, C, H, W).
  EXPECT_TRUE(contains(error_of([&] { pad_images(ds, int64_t(1) << 62); }), "pad")) << "huge pad";
  Dataset flat = ds;
  flat.images = Tensor::empty({2, 6}, DType::U8);
  EXPECT_TRUE(contains(error_of([&] { pad_images(flat, 1); }), "not (N, C, H, W)"));
  EXPECT_TRUE(contains(error_of([&] { compute_normalization(flat); }), "not (N, C, H, W)"));
  EXPECT_EQ(padding_to_fit({1, 28, 28}, {1, 32, 32}, "fashion-mnist", "cifarnet"), 2);
  EXPECT_EQ(padding_to_fit({1, 28, 28}, {1, 28, 28}, "fashion-mnist", "lenet"), 0);
  std::string msg = error_of([&] { padding_to_fit({1, 28, 28}, {3, 32, 32}, "fashion-mnist", "alexnet"); });
  EXPECT_TRUE(contains(msg, "(1, 28, 28)") && contains(msg, "(3, 32, 32)") && contains(msg, "alexnet")) << msg;
  msg = error_of([&] { padding_to_fit({3, 32, 32}, {3, 28, 28}, "cifar10", "x"); });
  EXPECT_TRUE(contains(msg, "(3, 32, 32)") && contains(msg, "(3, 28, 28)")) << msg;
}

TEST(Dataset, NormalisationUsesTrainingStatistics) {
  // Channel 0 alternates 0 and 255 (mean 0.5, std 0.5); channel 1 is 51 (0.2)
  // and 153 (0.6): mean 0.4, std 0.2.
  Dataset train;
  train.name = "t";
  train.images = Tensor::empty({2, 2, 1, 2}, DType::U8);
  uint8_t px[] = {0, 255, 51, 153, 255, 0, 153, 51};
  std::memcpy(train.images.raw(), px, 8);
  train.labels = Tensor::empty({2}, DType::I32);
  Normalization n = compute_normalization(train);
  ASSERT_EQ(n.mean.size(), 2u);
  EXPECT_NEAR(n.mean[0], 0.5, 1e-7);
  EXPECT_NEAR(n.std[0], 0.5, 1e-7);
  EXPECT_NEAR(n.mean[1], 0.4, 1e-7);
  EXPECT_NEAR(n.std[1], 0.2, 1e-6);
  Dataset t = normalize(train, n);
  std::vector<float> want = {-1, 1, -1, 1, 1, -1, 1, -1};
  for (int k = 0; k < 8; ++k) EXPECT_NEAR(t.images.data<float>()[k], want[size_t(k)], 1e-5) << k;
  // Another split normalised with the stored numbers, not its own.
  Normalization back = Normalization::from_json(n.to_json());
  EXPECT_EQ(back.mean, n.mean);
  EXPECT_EQ(back.std, n.std);
  Dataset other = train;
  other.images = Tensor::empty({1, 2, 1, 2}, DType::U8);
  std::memset(other.images.raw(), 255, 4);
  Dataset o = normalize(other, back);
  EXPECT_NEAR(o.images.data<float>()[0], 1.f, 1e-6);
  EXPECT_NEAR(o.images.data<float>()[2], (1.f - 0.4f) / 0.2f, 1e-5);
}

TEST(Dataset, ValidationSplitIsSeededAndDisjoint) {
  Dataset ds = indexed_dataset(1000);
  auto a = split_validation(ds, 100, 7), b = split_validation(ds, 100, 7), c = split_validation(ds, 100, 8);
  EXPECT_EQ(a.val.size(), 100);
  EXPECT_EQ(a.train.size(), 900);
  auto indices = [](const Dataset& d) {
    std::vector<int64_t> v;
    for (int64_t i = 0; i < d.size(); ++i) v.push_back(index_of_u8(d.images.data<uint8_t>() + i * 4));
    return v;
  };
  EXPECT_EQ(indices(a.val), indices(b.val));
  EXPECT_NE(indices(a.val), indices(c.val));
  std::set<int64_t> all;
  for (int64_t i : indices(a.val)) all.insert(i);
  for (int64_t i : indices(a.train)) EXPECT_TRUE(all.insert(i).second) << "image " << i << " in both splits";
  EXPECT_EQ(all.size(), 1000u);
  for (int64_t i = 0; i < a.val.size(); ++i)  // labels travel with their images
    EXPECT_EQ(a.val.labels.data<int32_t>()[i], indices(a.val)[size_t(i)] % 10);
  EXPECT_THROW(split_validation(ds, 1000, 1), Error);
}

std::vector<std::vector<int64_t>> epoch_batches(Loader& loader, Context& ctx, int64_t epoch) {
  loader.seek(epoch);
  std::vector<std::vector<int64_t>> out;
  Tensor x, y;
  while (loader.next(ctx, x, y)) {
    std::vector<int64_t> idx;
    int64_t row = x.numel() / x.dim(0);
    for (int64_t i = 0; i < x.dim(0); ++i) {
      int64_t k = index_of(x.data<float>() + i * row);
      EXPECT_EQ(y.data<int32_t>()[i], k % 10);
      idx.push_back(k);
    }
    out.push_back(idx);
  }
  return out;
}

TEST(Loader, EveryImageOncePerEpochSeededOrder) {
  auto ctx = Context::cpu();
  Dataset ds = indexed_dataset(103);
  Loader a(ds, {.batch = 10, .shuffle = true, .drop_last = false, .seed = 5});
  Loader b(ds, {.batch = 10, .shuffle = true, .drop_last = false, .seed = 5});
  Loader c(ds, {.batch = 10, .shuffle = true, .drop_last = false, .seed = 6});
  EXPECT_EQ(a.batches_per_epoch(), 11);
  auto e0 = epoch_batches(a, *ctx, 0), e1 = epoch_batches(a, *ctx, 1);
  ASSERT_EQ(e0.size(), 11u);
  EXPECT_EQ(e0.back().size(), 3u);  // the last partial batch
  for (const auto& epoch : {e0, e1}) {
    std::vector<int> seen(103, 0);
    for (const auto& batch : epoch)
      for (int64_t k : batch) ++seen[size_t(k)];
    for (int k = 0; k < 103; ++k) EXPECT_EQ(seen[size_t(k)], 1) << "image " << k;
  }
  EXPECT_NE(e0, e1);                            // reshuffled per epoch
  EXPECT_EQ(epoch_batches(b, *ctx, 1), e1);     // same (seed, epoch): same batches
  EXPECT_EQ(epoch_batches(a, *ctx, 0), e0);     // seeking back repeats the epoch
  EXPECT_NE(epoch_batches(c, *ctx, 0), e0);     // another seed, another order
  Loader d(ds, {.batch = 10, .shuffle = true, .drop_last = true, .seed = 5});
  auto dropped = epoch_batches(d, *ctx, 0);
  EXPECT_EQ(dropped.size(), 10u);
  for (size_t i = 0; i < dropped.size(); ++i) EXPECT_EQ(dropped[i], e0[i]);
  Loader plain(ds, {.batch = 50, .shuffle = false, .drop_last = false, .seed = 5});
  auto ordered = epoch_batches(plain, *ctx, 3);
  for (int64_t k = 0; k < 50; ++k) EXPECT_EQ(ordered[0][size_t(k)], k);
}

TEST(Loader, BatchesLandOnTheGpu) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  auto cpu = Context::cpu();
  Dataset ds = indexed_dataset(37);
  Loader g(ds, {.batch = 8, .shuffle = true, .drop_last = false, .seed = 2});
  Loader h(ds, {.batch = 8, .shuffle = true, .drop_last = false, .seed = 2});
  Tensor x, y, hx, hy;
  while (g.next(*ctx, x, y)) {
    ASSERT_TRUE(h.next(*cpu, hx, hy));
    EXPECT_TRUE(x.is_cuda() && y.is_cuda());
    EXPECT_EQ(x.to_vector(*ctx), hx.to_vector(*cpu));
  }
}

}  // namespace
}  // namespace deftnn::test
