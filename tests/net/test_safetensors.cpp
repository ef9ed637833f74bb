// The generic safetensors reader/writer: round trips and every malformed file
// the reader must refuse with a message that names the file and the problem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "net/net.h"
#include "net/safetensors.h"
#include "test_util.h"

namespace deftnn {
namespace {

namespace fs = std::filesystem;

// A fresh temporary directory per test, removed afterwards.
class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("deftnn-st-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes an 8-byte size (header.size() unless size_override), the header and data.
  std::string write_raw(const std::string& name, const std::string& header, const std::string& data,
                        int64_t size_override = -1) {
    std::string p = path(name);
    std::ofstream f(p, std::ios::binary);
    uint64_t n = size_override >= 0 ? uint64_t(size_override) : header.size();
    for (int i = 0; i < 8; ++i) f.put(char((n >> (8 * i)) & 0xff));
    f << header << data;
    return p;
  }
  fs::path dir_;
};

// Expects read_safetensors(p) to throw an Error whose message contains p and `what`.
void expect_read_error(const std::string& p, const std::string& what) {
  try {
    read_safetensors(p);
    ADD_FAILURE() << "no error reading " << p << " (expected '" << what << "')";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(p), std::string::npos) << "message does not name the file: " << m;
    EXPECT_NE(m.find(what), std::string::npos) << "message does not say '" << what << "': " << m;
  }
}

TEST_F(SafetensorsTest, RoundTripIsBitExact) {
  TensorFile tf;
  tf.tensors["a.weight"] = test::random_tensor({3, 4, 5}, 1);
  tf.tensors["a.bias"] = test::random_tensor({3}, 2);
  Tensor ints = Tensor::empty({7}, DType::I32);
  for (int i = 0; i < 7; ++i) ints.data<int32_t>()[i] = i * i - 20;
  tf.tensors["b.kept"] = ints;
  tf.tensors["empty"] = Tensor::empty({0, 4});
  tf.tensors["scalar"] = Tensor::from_vector({}, {3.5f});
  tf.metadata["k"] = "v";
  tf.metadata["json"] = R"({"x": [1, 2]})";
  std::string p = path("rt.safetensors");
  write_safetensors(p, tf);
  TensorFile back = read_safetensors(p);
  EXPECT_EQ(back.metadata, tf.metadata);
  ASSERT_EQ(back.tensors.size(), tf.tensors.size());
  for (const auto& [name, t] : tf.tensors) {
    const Tensor& b = back.tensors.at(name);
    EXPECT_EQ(b.shape(), t.shape()) << name;
    EXPECT_EQ(b.dtype(), t.dtype()) << name;
    ASSERT_EQ(b.nbytes(), t.nbytes()) << name;
    if (t.nbytes()) EXPECT_EQ(std::memcmp(b.raw(), t.raw(), t.nbytes()), 0) << name;
  }
  // The data block starts 8-byte aligned (header padded with spaces).
  std::ifstream f(p, std::ios::binary);
  uint64_t n = 0;
  f.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
  // No temporary file left behind.
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST_F(SafetensorsTest, MissingFile) { expect_read_error(path("nope.safetensors"), "cannot open"); }

TEST_F(SafetensorsTest, ShorterThanHeaderSize) {
  std::string p = path("short.safetensors");
  std::ofstream(p, std::ios::binary) << "abc";
  expect_read_error(p, "shorter than the 8-byte header size");
}

TEST_F(SafetensorsTest, HeaderSizeLargerThanFile) {
  expect_read_error(write_raw("big.safetensors", "{}", "", 1000), "header size 1000 is larger than");
}

TEST_F(SafetensorsTest, HeaderSizeAbsurd) {
  expect_read_error(write_raw("absurd.safetensors", "{}", "", int64_t(1) << 60), "is absurd");
}

TEST_F(SafetensorsTest, HeaderNotJson) {
  expect_read_error(write_raw("nojson.safetensors", "{\"a\": [1, 2", ""), "header is not valid JSON");
  expect_read_error(write_raw("array.safetensors", "[1, 2]", ""), "not an object");
}

TEST_F(SafetensorsTest, UnknownDtype) {
  expect_read_error(write_raw("dtype.safetensors", R"({"t": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}})",
                              std::string(8, '\0')),
                    "unknown or unsupported dtype 'Q7'");
}

TEST_F(SafetensorsTest, OffsetsOutOfRange) {
  expect_read_error(write_raw("range.safetensors", R"({"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})",
                              std::string(8, '\0')),
                    "run past the end of the data");
}

TEST_F(SafetensorsTest, OffsetsOverlap) {
  expect_read_error(
      write_raw("overlap.safetensors",
                R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                std::string(12, '\0')),
      "overlap the previous tensor");
}

TEST_F(SafetensorsTest, OffsetsNotContiguous) {
  expect_read_error(
      write_raw("gap.safetensors",
                R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                    "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                std::string(12, '\0')),
      "leave a gap");
  expect_read_error(write_raw("trail.safetensors", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                              std::string(12, '\0')),
                    "trailing bytes");
}

TEST_F(SafetensorsTest, ShapeTimesDtypeMismatch) {
  expect_read_error(write_raw("size.safetensors", R"({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
                              std::string(8, '\0')),
                    "needs 12 bytes but data_offsets [0,8] hold 8");
}

TEST_F(SafetensorsTest, BadEntries) {
  expect_read_error(write_raw("meta.safetensors", R"({"__metadata__": {"a": 1}})", ""), "is not a string");
  expect_read_error(write_raw("neg.safetensors", R"({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}})", ""),
                    "not a non-negative integer");
  expect_read_error(write_raw("key.safetensors",
                              R"({"t": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0], "x": 1}})", ""),
                    "unknown header key 'x'");
  expect_read_error(write_raw("noofs.safetensors", R"({"t": {"dtype": "F32", "shape": [0]}})", ""),
                    "'data_offsets' must be an array");
}

TEST_F(SafetensorsTest, FailedWriteLeavesNothing) {
  TensorFile tf;
  tf.tensors["t"] = test::random_tensor({16}, 3);
  // Directory does not exist: the temporary file cannot even be created.
  std::string missing = path("no/such/dir/m.safetensors");
  try {
    write_safetensors(missing, tf);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(missing));
  // The target is a directory: refused before anything is written, and no
  // temporary file is left (a failure part-way: tests/reliability/test_output_file.cpp).
  std::string target = path("target");
  fs::create_directories(fs::path(target) / "inner");
  try {
    write_safetensors(target, tf);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("it is a folder"), std::string::npos) << e.what();
  }
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << "left behind: " << e.path();
  EXPECT_TRUE(fs::is_directory(target));
}

TEST_F(SafetensorsTest, OverwriteIsAtomic) {
  TensorFile a, b;
  a.tensors["t"] = test::random_tensor({8}, 4);
  b.tensors["t"] = test::random_tensor({8}, 5);
  std::string p = path("m.safetensors");
  write_safetensors(p, a);
  write_safetensors(p, b);
  TensorFile back = read_safetensors(p);
  EXPECT_EQ(back.tensors.at("t").to_vector(*Context::cpu()), b.tensors.at("t").to_vector(*Context::cpu()));
}

}  // namespace
}  // namespace deftnn

namespace deftnn {
namespace {

// Half of the interoperability check with the Python `safetensors` package,
// driven by tests/python/check_safetensors.py (which sets DEFTNN_INTEROP_DIR):
// writes files for Python to read, and reads the one Python wrote.
TEST(SafetensorsInterop, WithPython) {
  const char* dir = std::getenv("DEFTNN_INTEROP_DIR");
  if (!dir) GTEST_SKIP() << "run by tests/python/check_safetensors.py (DEFTNN_INTEROP_DIR unset)";
  std::string d = dir;
  // Python wrote x = arange(6, dtype=float32).reshape(2, 3), y = int64 [1, 2, 3],
  // metadata {"who": "python"}.
  TensorFile py = read_safetensors(d + "/python.safetensors");
  EXPECT_EQ(py.metadata.at("who"), "python");
  ASSERT_EQ(py.tensors.at("x").shape(), (Shape{2, 3}));
  EXPECT_EQ(py.tensors.at("x").to_vector(*Context::cpu()), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  const Tensor& y = py.tensors.at("y");
  ASSERT_EQ(y.dtype(), DType::I64);
  EXPECT_EQ(y.data<int64_t>()[0] + y.data<int64_t>()[1] * 10 + y.data<int64_t>()[2] * 100, 321);

  // For Python: f = arange(12) as F32 (3, 4), i = [-1, 0, 7] I32, u = [255, 1] U8,
  // metadata {"deftnn.test": "yes"}.
  TensorFile tf;
  std::vector<float> f(12);
  for (int i = 0; i < 12; ++i) f[size_t(i)] = float(i);
  tf.tensors["f"] = Tensor::from_vector({3, 4}, f);
  Tensor ints = Tensor::empty({3}, DType::I32);
  ints.data<int32_t>()[0] = -1, ints.data<int32_t>()[1] = 0, ints.data<int32_t>()[2] = 7;
  tf.tensors["i"] = ints;
  Tensor bytes = Tensor::empty({2}, DType::U8);
  bytes.data<uint8_t>()[0] = 255, bytes.data<uint8_t>()[1] = 1;
  tf.tensors["u"] = bytes;
  tf.metadata["deftnn.test"] = "yes";
  write_safetensors(d + "/deftnn.safetensors", tf);

  // A model file: LeNet with seeded weights.
  Net net = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/lenet.json");
  net.init(5);
  net.metadata()["from"] = "interop test";
  net.save(d + "/lenet.safetensors");
}

}  // namespace
}  // namespace deftnn
