// Malformed inputs, generated from small templates: every reader must answer
// with a deftnn::Error naming the file (and the layer and field where there
// is one); any other exception fails the case, and a hang or a signal fails
// the whole binary. tests/cli/check_malformed.sh runs a subset through the
// CLI for exit codes and leftovers.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/input_file.h"
#include "data/dataset.h"
#include "net/net.h"
#include "net/npy.h"
#include "net/safetensors.h"
#include "data/tokenizer.h"
#include "train/trainer.h"

namespace deftnn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / (std::string("deftnn_malformed_") + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

// Runs f and checks it throws a deftnn::Error whose message holds every word.
// Returns false (after a failure naming `label`) otherwise.
bool expect_error(const std::string& label, const std::function<void()>& f, const std::vector<std::string>& words) {
  std::string msg;
  try {
    f();
    ADD_FAILURE() << label << ": accepted";
    return false;
  } catch (const Error& e) {
    msg = e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << label << ": untyped exception " << typeid(e).name() << ": " << e.what();
    return false;
  }
  for (const auto& w : words)
    if (msg.find(w) == std::string::npos) {
      ADD_FAILURE() << label << ": no '" << w << "' in: " << msg.substr(0, 600);
      return false;
    }
  return true;
}

// The template graph: every layer type that reads keys from its entry.
json base_graph() {
  return json::parse(R"({"name": "t", "input": [1, 8, 8], "classes": 2, "layers": [
    {"type": "conv", "name": "c1", "out": 4, "kernel": 3, "pad": 1, "weight_filler": {"type": "gaussian", "std": 0.01}},
    {"type": "relu", "name": "r1"},
    {"type": "maxpool", "name": "p1", "kernel": 2, "stride": 2},
    {"type": "lrn", "name": "n1"},
    {"type": "dropout", "name": "d1"},
    {"type": "flatten", "name": "f1"},
    {"type": "linear", "name": "ip1", "out": 2},
    {"type": "softmax", "name": "s1"}]})");
}

TEST(Malformed, TemplateGraphLoads) {
  TempDir dir;
  const std::string p = dir.file("ok.json");
  write_file(p, base_graph().dump());
  EXPECT_NO_THROW(Net::load(p));
}

// One layer field set to raw JSON text (which may be invalid JSON, e.g. 1e400).
struct FieldCase {
  size_t layer;
  std::string key, raw;
  std::vector<std::string> words;  // beyond the path
};

TEST(Malformed, LayerFieldsOfWrongTypeOrRange) {
  const std::string c = "'c1'", l = "'ip1'";
  const std::vector<FieldCase> cases = {
      {0, "out", R"("4")", {c, "out"}},
      {0, "out", "-4", {c, "out"}},
      {0, "out", "0", {c, "out"}},
      {0, "out", "4.5", {c, "out"}},
      {0, "out", "1e400", {"1e400"}},
      {0, "out", "9223372036854775808", {c, "out"}},
      {0, "out", "18446744073709551615", {c, "out"}},
      {0, "out", "[4]", {c, "out"}},
      {0, "out", "null", {c, "out"}},
      {0, "out", "true", {c, "out"}},
      {0, "out", "99999999999", {c, "out"}},
      {0, "kernel", R"("3")", {c, "kernel"}},
      {0, "kernel", "-3", {c, "kernel"}},
      {0, "kernel", "[3]", {c, "kernel"}},
      {0, "kernel", R"([3, "3"])", {c, "kernel"}},
      {0, "kernel", "[3, 3, 3]", {c, "kernel"}},
      {0, "kernel", "4294967296", {c, "kernel"}},
      {0, "stride", "0", {c, "stride"}},
      {0, "stride", R"("1")", {c, "stride"}},
      {0, "stride", "{}", {c, "stride"}},
      {0, "pad", "-1", {c, "pad"}},
      {0, "pad", "[1, -1]", {c, "pad"}},
      {0, "pad", "9223372036854775807", {c, "pad"}},
      {0, "groups", R"("2")", {c, "groups"}},
      {0, "groups", "0", {c, "groups"}},
      {0, "groups", "3", {c, "groups"}},
      {0, "groups", "-2", {c, "groups"}},
      {0, "bias", R"("yes")", {c, "bias"}},
      {0, "bias", "1", {c, "bias"}},
      {0, "bias_value", R"("0")", {c, "bias_value"}},
      {0, "bias_value", "1e39", {c, "bias_value"}},
      {0, "weight_filler", R"("xavier")", {c, "weight_filler"}},
      {0, "weight_filler", R"({"type": 1})", {c, "weight_filler"}},
      {0, "weight_filler", R"({"type": "uniform"})", {c, "uniform"}},
      {0, "weight_filler", R"({"type": "gaussian", "std": "0.1"})", {c, "std"}},
      {0, "weight_filler", R"({"type": "gaussian", "std": -1})", {c, "std"}},
      {0, "weight_filler", R"({"type": "xavier", "std": 0.1})", {c, "std"}},
      {0, "weight_filler", R"({"type": "gaussian", "sd": 0.1})", {c, "sd"}},
      {0, "sve", "1", {c, "sve"}},
      {0, "sve", R"({"original_k": "9", "kept": [0]})", {c, "sve"}},
      {0, "sve", R"({"kept": [0]})", {c, "sve"}},
      {0, "stide", "2", {c, "unknown key 'stide'", "known:", "stride"}},
      {0, "kernal", "3", {c, "unknown key 'kernal'", "kernel"}},
      {1, "negative_slope", R"("0")", {"'r1'", "negative_slope"}},
      {1, "slope", "0.1", {"'r1'", "unknown key 'slope'"}},
      {2, "kernel", R"("2")", {"'p1'", "kernel"}},
      {2, "kernel", "-2", {"'p1'", "kernel"}},
      {2, "pad", "1e400", {"1e400"}},
      {2, "pad", "4611686018427387904", {"'p1'", "pad"}},
      {2, "stride", "9223372036854775807", {"'p1'", "stride"}},
      {3, "local_size", "9223372036854775807", {"'n1'", "local_size"}},
      {3, "local_size", R"("5")", {"'n1'", "local_size"}},
      {3, "alpha", R"("x")", {"'n1'", "alpha"}},
      {3, "beta", "1e308", {"'n1'", "beta"}},
      {4, "ratio", "2", {"'d1'", "ratio"}},
      {4, "seed", "-1", {"'d1'", "seed"}},
      {5, "axis", "1", {"'f1'", "unknown key 'axis'"}},
      {6, "out", R"("2")", {l, "out"}},
      {6, "out", "-2", {l, "out"}},
      {6, "out", "0", {l, "out"}},
      {6, "bias", R"("no")", {l, "bias"}},
      {6, "weight_filler", R"({"type": 2})", {l, "weight_filler"}},
      {6, "weight_filler", "[]", {l, "weight_filler"}},
      {6, "stride", "1", {l, "unknown key 'stride'", "known:"}},
      {6, "sve", R"({"original_k": 128, "kept": "all"})", {l, "sve"}},
      {7, "axis", "1", {"'s1'", "unknown key 'axis'"}},
  };
  TempDir dir;
  const std::string p = dir.file("graph.json");
  int passed = 0;
  for (const FieldCase& fc : cases) {
    json g = base_graph();
    g["layers"][fc.layer][fc.key] = "@@";
    std::string text = g.dump();
    text.replace(text.find("\"@@\""), 4, fc.raw);
    write_file(p, text);
    std::vector<std::string> words = fc.words;
    words.push_back(p);
    passed += expect_error(fc.key + " = " + fc.raw, [&] { Net::load(p); }, words);
  }
  EXPECT_EQ(passed, int(cases.size()));
}

// Whole graph files: structure, sizes, nesting, bytes that are not JSON.
TEST(Malformed, GraphFiles) {
  const std::string deep_array = std::string(1000000, '[') + std::string(1000000, ']');
  std::string deep_field = base_graph().dump();
  deep_field.replace(deep_field.find("\"r1\""), 4, "\"r1\", \"x\": " + std::string(5000, '[') + std::string(5000, ']'));
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {R"({"name": "t", "input": [1, 65536, 65536], "layers": [{"type": "relu"}]})", {"elements per sample"}},
      {R"({"name": "t", "inputs": [{"name": "a", "shape": [4294967296, 4294967296, 4]}],)"
       R"( "layers": [{"type": "relu"}]})",
       {"elements per sample"}},
      {R"({"name": "t", "input": [1, 8, 9223372036854775808], "layers": [{"type": "relu"}]})", {"'input'"}},
      {R"({"name": "t", "input": ["1", 8, 8], "layers": [{"type": "relu"}]})", {"'input'"}},
      {R"({"name": "t", "input": [1, 8, -8], "layers": [{"type": "relu"}]})", {"'input'"}},
      {R"({"name": "t", "input": [1, 8, 1e400], "layers": [{"type": "relu"}]})", {"1e400"}},
      {R"({"name": 5, "input": [1, 8, 8], "layers": [{"type": "relu"}]})", {"'name'"}},
      {R"({"name": "t", "input": [1, 8, 8], "layers": {}})", {"'layers'"}},
      {R"({"name": "t", "input": [1, 8, 8], "layers": [5]})", {"layers[0]"}},
      {R"({"name": "t", "input": [1, 8, 8], "layers": [{"type": 5}]})", {"layers[0]"}},
      {R"({"name": "t", "input": [1, 8, 8], "layers": [{"type": "relu", "name": 7}]})", {"'name'"}},
      {R"({"name": "t", "input": [1, 8, 8], "layrs": []})", {"unknown key 'layrs'"}},
      {R"({"name": "t", "input": [1, 8, 8], "classes": "2", "layers": [{"type": "relu"}]})", {"'classes'"}},
      {R"({"name": "t", "input": [1, 8, 8], "layers": [{"type": "relu", "inputs": "data"}]})", {"'inputs'"}},
      {R"({"name": "t", "input": [1, 8, 8], "layers": [{"type": "relu", "name": ")" + std::string(100000, 'n') +
           R"("}]})",
       {"name of 100000 characters", "... ("}},
      {R"({"name": "t", "input": [1, 8, 8], "layers": [{"type": "relu", "outputs": [")" + std::string(1000, 'o') +
           R"("]}]})",
       {"'outputs'", "at most 256"}},
      {R"({"name": "t", "input": [1, 8, 8], "layers": [{"type": "relu", "negative_slope": [)" +
           std::string(100000, '1').insert(0, "\"").append("\"") + "]}]}",
       {"negative_slope", "characters)"}},
      {"{", {"not valid JSON"}},
      {"", {"not valid JSON"}},
      {std::string("\x00\xff\xfe", 3), {"not valid JSON"}},
      {deep_array, {"nested deeper than"}},
      {deep_field, {"nested deeper than"}},
  };
  TempDir dir;
  const std::string p = dir.file("graph.json");
  int passed = 0;
  for (size_t k = 0; k < cases.size(); ++k) {
    write_file(p, cases[k].first);
    std::vector<std::string> words = cases[k].second;
    words.push_back(p);
    passed += expect_error("graph case " + std::to_string(k), [&] { Net::load(p); }, words);
  }
  EXPECT_EQ(passed, int(cases.size()));
}

// A safetensors file whose header is the given JSON text.
std::string safetensors_bytes(const std::string& header) {
  std::string b(8, '\0');
  for (int i = 0; i < 8; ++i) b[size_t(i)] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return b + header;
}

TEST(Malformed, ModelFiles) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {std::string(100000, '[') + std::string(100000, ']'), {"nested deeper than"}},
      {R"({"w": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 4]}})", {"1e400"}},
      {R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 4]}})",
       {"'w'"}},
      {R"({"__metadata__": {"deftnn.graph": "[[[[1]]]]"}})", {"JSON object"}},
      {R"({"__metadata__": {"deftnn.graph": "{\"name\": \"t\", \"input\": [1, 2, 2], )"
       R"(\"layers\": [{\"type\": \"relu\", \"negative_slope\": \"x\"}]}"}})",
       {"negative_slope"}},
  };
  TempDir dir;
  const std::string p = dir.file("m.safetensors");
  int passed = 0;
  for (size_t k = 0; k < cases.size(); ++k) {
    write_file(p, safetensors_bytes(cases[k].first));
    std::vector<std::string> words = cases[k].second;
    words.push_back(p);
    passed += expect_error("model case " + std::to_string(k), [&] { Net::load(p); }, words);
  }
  EXPECT_EQ(passed, int(cases.size()));
}

// Paths that are not regular files: each rejected at open, none read.
TEST(Malformed, NonRegularFiles) {
  TempDir dir;
  const std::string fifo_json = dir.file("fifo.json"), fifo_st = dir.file("fifo.safetensors"),
                    fifo_idx = dir.file("fifo-idx.gz"), fifo_bin = dir.file("fifo.bin"), folder = dir.file("d.json"),
                    zero = dir.file("zero.json");
  for (const auto& f : {fifo_json, fifo_st, fifo_idx, fifo_bin}) ASSERT_EQ(::mkfifo(f.c_str(), 0600), 0) << f;
  fs::create_directories(folder);
  fs::create_symlink("/dev/zero", zero);
  int passed = 0;
  passed += expect_error("fifo graph", [&] { Net::load(fifo_json); }, {fifo_json, "FIFO"});
  passed += expect_error("fifo model", [&] { Net::load(fifo_st); }, {fifo_st, "regular file"});
  passed += expect_error("fifo checkpoint", [&] { read_safetensors(fifo_st); }, {fifo_st, "regular file"});
  passed += expect_error("dir graph", [&] { Net::load(folder); }, {folder, "directory"});
  passed += expect_error("dev zero graph", [&] { Net::load(zero); }, {zero, "character device"});
  passed += expect_error("dev zero model", [&] { Net::load("/dev/zero"); }, {"/dev/zero", "regular file"});
  passed += expect_error("fifo idx", [&] { data::read_idx(fifo_idx, data::kIdxImagesMagic); }, {fifo_idx, "FIFO"});
  passed += expect_error("dir idx", [&] { data::read_idx(dir.file("d.json"), data::kIdxImagesMagic); },
                         {folder, "directory"});
  passed += expect_error("fifo cifar", [&] { data::read_cifar10_file(fifo_bin); }, {fifo_bin, "FIFO"});
  passed += expect_error("dev zero cifar", [&] { data::read_cifar10_file("/dev/zero"); }, {"/dev/zero", "device"});
  EXPECT_EQ(passed, 10);
}

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  if (!bytes.empty()) ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(f);
}

// IDX and CIFAR headers that promise more than the file holds: refused
// before the allocation (a 4-dimension header of 2^32 - 1 each would
// otherwise ask for 2^128 bytes).
TEST(Malformed, DatasetHeaders) {
  TempDir dir;
  const std::string plain = dir.file("plain-idx"), gz = dir.file("big-idx.gz"), over = dir.file("over-idx"),
                    cifar = dir.file("short.bin"), empty = dir.file("empty.bin");
  write_file(plain, be32(data::kIdxImagesMagic) + be32(60000) + be32(28) + be32(28) + std::string(100, '\1'));
  write_gz(gz, be32(data::kIdxImagesMagic) + be32(2000000000) + be32(2000) + be32(2000));
  write_file(over, be32(0x00000804) + be32(0xffffffff) + be32(0xffffffff) + be32(0xffffffff) + be32(0xffffffff));
  write_file(cifar, std::string(3073 + 5, '\0'));
  write_file(empty, "");
  int passed = 0;
  passed += expect_error("plain idx", [&] { data::read_idx(plain, data::kIdxImagesMagic); },
                         {plain, "truncated", "47040000"});
  passed += expect_error("gz idx", [&] { data::read_idx(gz, data::kIdxImagesMagic); }, {gz, "truncated"});
  passed += expect_error("overflowing idx", [&] { data::read_idx(over, 0x00000804); }, {over, "overflows"});
  passed += expect_error("short cifar", [&] { data::read_cifar10_file(cifar); }, {cifar, "3078 bytes"});
  passed += expect_error("empty cifar", [&] { data::read_cifar10_file(empty); }, {empty, "0 bytes"});
  EXPECT_EQ(passed, 5);
}

// The numbers in a shape or a tensor's size: overflow is an error, never a wrap.
TEST(Malformed, SizeProducts) {
  EXPECT_THROW(shape_numel({int64_t(1) << 32, int64_t(1) << 32}), Error);
  EXPECT_EQ(shape_numel({int64_t(1) << 31, int64_t(1) << 31}), int64_t(1) << 62);
  expect_error("tensor over the cap", [] { Tensor::empty({int64_t(1) << 40}, DType::F32); },
               {"(1099511627776)", "bytes per tensor"});
  expect_error("tensor bytes overflow", [] { Tensor::empty({int64_t(1) << 62}, DType::F64); }, {"bytes per tensor"});
}

}  // namespace
}  // namespace deftnn

namespace deftnn {
namespace {

// A .npy file: magic, version, header length (2 bytes for 1.0, 4 for 2.0), header, data.
std::string npy_bytes(const std::string& dict, const std::string& data, int version = 1) {
  std::string h = "\x93NUMPY";
  h += char(version);
  h += char(0);
  const size_t n = dict.size();
  h += char(n & 0xff);
  h += char((n >> 8) & 0xff);
  if (version >= 2) h += std::string{char((n >> 16) & 0xff), char((n >> 24) & 0xff)};
  return h + dict + data;
}

TEST(Malformed, NpyFiles) {
  TempDir dir;
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
  const std::string data(24, '\0');
  struct Case {
    std::string name, bytes;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {"empty", "", {"not a .npy"}},
      {"short-magic", "\x93NUM", {"not a .npy"}},
      {"bad-magic", "\x93NUMPZ\x01\x00\x10\x00" + std::string(16, ' '), {"not a .npy"}},
      {"version-0", npy_bytes(ok, data, 0), {"version 0"}},
      {"version-4", npy_bytes(ok, data, 4), {"version 4"}},
      {"header-past-end", npy_bytes(ok, data).substr(0, 40), {"does not fit"}},
      {"no-descr", npy_bytes("{'fortran_order': False, 'shape': (2, 3), }\n", data), {"descr"}},
      {"int-dtype", npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }\n", data), {"'<i4'"}},
      {"big-endian", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", data), {"'>f4'"}},
      {"bytes-dtype", npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }\n", data), {"'|u1'"}},
      {"fortran", npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", data), {"C order"}},
      {"no-fortran", npy_bytes("{'descr': '<f4', 'shape': (2, 3), }\n", data), {"fortran_order"}},
      {"no-shape", npy_bytes("{'descr': '<f4', 'fortran_order': False, }\n", data), {"shape"}},
      {"negative-dim", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }\n", data), {"shape"}},
      {"huge-dim", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (9999999999999999999, 3), }\n", data),
       {"too large"}},
      {"overflow", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999, 999999999999), }\n", data),
       {"overflows"}},
      {"data-short", npy_bytes(ok, data.substr(0, 20)), {"needs 24 bytes"}},
      {"data-long", npy_bytes(ok, data + "xxxx"), {"needs 24 bytes"}},
      {"f8-data-short", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n", data), {"needs 48"}},
      {"v2-header-past-end", npy_bytes(ok, data, 2).substr(0, 30), {"does not fit"}},
      {"header-garbage", npy_bytes(std::string(60, '\xff'), data), {"descr"}},
      {"unclosed-shape", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, }\n", data), {"closing"}},
      {"shape-words", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }\n", data),
       {"other than integers"}},
      {"no-colon", npy_bytes("{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", data), {"':'"}},
  };
  int n = 0;
  for (const auto& c : cases) {
    const std::string p = dir.file(c.name + ".npy");
    write_file(p, c.bytes);
    std::vector<std::string> words = c.words;
    words.push_back(p);
    n += expect_error("npy " + c.name, [&] { read_npy(p); }, words);
  }
  EXPECT_EQ(n, int(cases.size()));
  const std::string good = dir.file("good.npy");
  write_file(good, npy_bytes(ok, data));
  EXPECT_EQ(read_npy(good).shape(), (Shape{2, 3}));  // the template itself is accepted
  // A valid header padded to the 1 MiB limit (version 2) reads quickly: the header
  // parser is a scanner, where std::regex crawled and risked the stack on it.
  const std::string padded = dir.file("padded.npy");
  write_file(padded, npy_bytes(ok.substr(0, ok.size() - 1) + std::string((1 << 20) - ok.size(), ' ') + "\n", data, 2));
  EXPECT_EQ(read_npy(padded).shape(), (Shape{2, 3}));
}

TEST(Malformed, NpyNonRegularFiles) {
  TempDir dir;
  const std::string fifo = dir.file("fifo.npy"), folder = dir.file("dir.npy"), zero = dir.file("zero.npy");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  fs::create_directory(folder);
  fs::create_symlink("/dev/zero", zero);
  expect_error("npy fifo", [&] { read_npy(fifo); }, {fifo, "FIFO"});
  expect_error("npy dir", [&] { read_npy(folder); }, {folder, "directory"});
  expect_error("npy /dev/zero", [&] { read_npy(zero); }, {zero, "device"});
}

// tokenizer.json: the template of tests/data/test_tokenizer.cpp with one part replaced.
TEST(Malformed, TokenizerFiles) {
  const json valid = json::parse(R"({
      "truncation": {"max_length": 7},
      "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                     "strip_accents": null, "lowercase": true},
      "pre_tokenizer": {"type": "BertPreTokenizer"},
      "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                "max_input_chars_per_word": 100,
                "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4}}})");
  struct Case {
    std::string name;
    std::function<void(json&)> edit;  // applied to a copy of `valid`
    std::string raw;                  // or, when not empty, the file's whole text
  };
  const std::vector<Case> cases = {
      {"not-json", nullptr, "{\"model\": "},
      {"array", nullptr, "[1, 2, 3]"},
      {"deep", nullptr, std::string(100000, '[') + std::string(100000, ']')},
      {"number-overflow", nullptr, R"({"truncation": {"max_length": 1e400}})"},
      {"empty", nullptr, " "},
      {"no-model", [](json& j) { j.erase("model"); }, ""},
      {"model-string", [](json& j) { j["model"] = "WordPiece"; }, ""},
      {"model-bpe", [](json& j) { j["model"]["type"] = "BPE"; }, ""},
      {"vocab-array", [](json& j) { j["model"]["vocab"] = json::array({"a"}); }, ""},
      {"vocab-id-string", [](json& j) { j["model"]["vocab"]["hello"] = "4"; }, ""},
      {"vocab-id-negative", [](json& j) { j["model"]["vocab"]["hello"] = -4; }, ""},
      {"vocab-id-huge", [](json& j) { j["model"]["vocab"]["hello"] = 4000000000LL; }, ""},
      {"vocab-id-duplicate", [](json& j) { j["model"]["vocab"]["hello"] = 3; }, ""},
      {"vocab-id-gap", [](json& j) { j["model"]["vocab"]["hello"] = 9; }, ""},
      {"unk-missing", [](json& j) { j["model"]["vocab"].erase("[UNK]"); }, ""},
      {"unk-number", [](json& j) { j["model"]["unk_token"] = 1; }, ""},
      {"prefix-number", [](json& j) { j["model"]["continuing_subword_prefix"] = 2; }, ""},
      {"max-chars-string", [](json& j) { j["model"]["max_input_chars_per_word"] = "100"; }, ""},
      // fuzz/fuzz_tokenizer found these: a float where an integer goes was converted without a check (UB).
      {"max-chars-1e92", [](json& j) { j["model"]["max_input_chars_per_word"] = 1.08e92; }, ""},
      {"max-chars-float", [](json& j) { j["model"]["max_input_chars_per_word"] = 100.5; }, ""},
      {"max-length-1e30", [](json& j) { j["truncation"]["max_length"] = 1e30; }, ""},
      {"normalizer-unknown", [](json& j) { j["normalizer"]["type"] = "NFKC"; }, ""},
      {"lowercase-string", [](json& j) { j["normalizer"]["lowercase"] = "yes"; }, ""},
      {"pre-tokenizer-unknown", [](json& j) { j["pre_tokenizer"]["type"] = "Whitespace"; }, ""},
      {"max-length-string", [](json& j) { j["truncation"]["max_length"] = "7"; }, ""},
      {"max-length-negative", [](json& j) { j["truncation"]["max_length"] = -7; }, ""},
      {"truncation-number", [](json& j) { j["truncation"] = 7; }, ""},
  };
  int n = 0;
  for (const auto& c : cases) {
    TempDir dir;
    const std::string p = dir.file("tokenizer.json");
    if (c.edit) {
      json j = valid;
      c.edit(j);
      write_file(p, j.dump());
    } else {
      write_file(p, c.raw);
    }
    n += expect_error("tokenizer " + c.name, [&] { data::WordPieceTokenizer::from_model_dir(dir.file("")); },
                      {"tokenizer.json"});
  }
  EXPECT_EQ(n, int(cases.size()));
  TempDir ok;
  write_file(ok.file("tokenizer.json"), valid.dump());
  EXPECT_NO_THROW(data::WordPieceTokenizer::from_model_dir(ok.file("")));
}

TEST(Malformed, TokenizerNonRegularFiles) {
  TempDir dir;
  const std::string p = dir.file("tokenizer.json");
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  expect_error("tokenizer fifo", [&] { data::WordPieceTokenizer::from_model_dir(dir.file("")); }, {p, "FIFO"});
  fs::remove(p);
  fs::create_directory(p);
  expect_error("tokenizer dir", [&] { data::WordPieceTokenizer::from_model_dir(dir.file("")); },
               {"tokenizer.json", "directory"});
}

}  // namespace
}  // namespace deftnn

namespace deftnn {
namespace {

// A checkpoint of a tiny net (one epoch-less save), then one damage at a time:
// the training state's fields, its JSON, and the optimizer tensors. Each must
// fail at load_checkpoint_net or resume with the checkpoint's path named.
TEST(Malformed, CheckpointsForResume) {
  TempDir dir;
  const json graph = json::parse(R"({"name": "tiny", "input": [1, 4, 4], "classes": 3, "layers": [
      {"type": "linear", "name": "fc1", "out": 8}, {"type": "relu", "name": "r1"},
      {"type": "linear", "name": "fc2", "out": 3}]})");
  auto ctx = Context::cpu();
  train::TrainConfig cfg;
  cfg.progress = false;
  const std::string good = dir.file("good.ckpt.safetensors");
  {
    Net net = Net::from_graph(graph, "tiny");
    net.init(1);
    train::Trainer t(net, *ctx, cfg);
    t.save_checkpoint(good);
  }
  const TensorFile base = read_safetensors(good);
  const json state = json::parse(base.metadata.at("deftnn.train_state"));
  // The tensors a one-step checkpoint holds only after a step: add momentum buffers of the right shape.
  auto resume = [&](const std::string& p) {
    Net net = train::Trainer::load_checkpoint_net(p);
    train::Trainer t(net, *ctx, cfg);
    t.resume(p);
  };
  struct Case {
    std::string name;
    std::function<void(TensorFile&, json&)> edit;
    std::string raw_state;  // when not empty, the state's text as is
    std::vector<std::string> words;
  };
  auto set = [](const std::string& k, json v) { return [k, v](TensorFile&, json& s) { s[k] = v; }; };
  auto drop = [](const std::string& k) { return [k](TensorFile&, json& s) { s.erase(k); }; };
  const std::vector<Case> cases = {
      {"no-epoch", drop("epoch"), "", {"epoch"}},
      {"no-iteration", drop("iteration"), "", {"iteration"}},
      {"no-history", drop("history"), "", {"history"}},
      {"no-seed", drop("seed"), "", {"seed"}},
      {"no-batch", drop("batch"), "", {"batch"}},
      {"no-best", drop("best_val_acc"), "", {"best_val_acc"}},
      {"epoch-string", set("epoch", "2"), "", {"training state"}},
      {"epoch-float", set("epoch", 2.5), "", {"training state"}},
      {"epoch-negative", set("epoch", -1), "", {"negative"}},
      {"iteration-negative", set("iteration", -5), "", {"negative"}},
      {"epoch-huge", set("epoch", 1e300), "", {"training state"}},
      {"seed-negative", set("seed", -1), "", {"training state"}},
      {"seed-string", set("seed", "3"), "", {"training state"}},
      {"batch-null", set("batch", nullptr), "", {"training state"}},
      {"history-object", set("history", json::object()), "", {"training state"}},
      {"history-bad-entry", set("history", json::array({json::array({1})})), "", {"training state"}},
      {"state-array", nullptr, "[1, 2]", {"training state"}},
      {"state-not-json", nullptr, "{\"epoch\": ", {"not valid JSON"}},
      {"state-1e400", nullptr, "{\"epoch\": 1e400}", {"1e400"}},
      {"state-deep", nullptr, std::string(1000, '[') + std::string(1000, ']'), {"nested deeper"}},
      {"momentum-wrong-shape",
       [](TensorFile& f, json&) { f.tensors["optim.momentum.fc1.weight"] = Tensor::empty({3, 3}); }, "",
       {"momentum of fc1.weight"}},
      {"momentum-wrong-dtype",
       [](TensorFile& f, json&) {
         f.tensors["optim.momentum.fc1.weight"] = Tensor::empty({8, 16}, DType::F16, Device::CPU);
       },
       "", {"momentum of fc1.weight"}},
      {"best-wrong-shape",
       [](TensorFile& f, json&) {
         for (const char* n : {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"})
           f.tensors[std::string("optim.best.") + n] = Tensor::empty({1});
       },
       "", {"best weights of"}},
      {"weight-missing", [](TensorFile& f, json&) { f.tensors.erase("fc2.weight"); }, "", {"fc2.weight"}},
      {"weight-wrong-shape", [](TensorFile& f, json&) { f.tensors["fc2.weight"] = Tensor::empty({2, 2}); }, "",
       {"fc2.weight"}},
      {"no-graph", [](TensorFile& f, json&) { f.metadata.erase("deftnn.graph"); }, "", {"deftnn.graph"}},
  };
  int n = 0;
  for (const auto& c : cases) {
    TensorFile f = base;
    json s = state;
    if (c.edit) c.edit(f, s);
    f.metadata["deftnn.train_state"] = c.raw_state.empty() ? s.dump() : c.raw_state;
    const std::string p = dir.file(c.name + ".ckpt.safetensors");
    write_safetensors(p, f);
    std::vector<std::string> words = c.words;
    words.push_back(p);
    n += expect_error("checkpoint " + c.name, [&] { resume(p); }, words);
  }
  EXPECT_EQ(n, int(cases.size()));
  EXPECT_NO_THROW(resume(good));
}

}  // namespace
}  // namespace deftnn
