#include "net/npy.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <cctype>

#include "core/input_file.h"

#include "net/safetensors.h"

namespace deftnn {

static_assert(std::endian::native == std::endian::little, "write_npy writes the host's floats as '<f4'");

namespace {

// The value of 'key' in the header's Python dict literal: between `open` and `close`
// when given ('descr': '<f4', 'shape': (3, 4)), else the bare word (True). A scanner,
// not std::regex: the header may be 1 MiB, which libstdc++'s recursive regex matcher
// walks slowly and can overflow the stack on.
std::string npy_field(const std::string& path, const std::string& header, const std::string& key, char open,
                      char close) {
  const std::string quoted = "'" + key + "'";
  size_t at = header.find(quoted);
  DEFTNN_CHECK(at != std::string::npos, "{}: .npy header has no '{}': {}", path, key, header.substr(0, 128));
  at += quoted.size();
  auto skip_space = [&] {
    while (at < header.size() && std::isspace(static_cast<unsigned char>(header[at]))) ++at;
  };
  skip_space();
  DEFTNN_CHECK(at < header.size() && header[at] == ':', "{}: .npy header has no ':' after '{}'", path, key);
  ++at;
  skip_space();
  if (open == 0) {
    size_t end = at;
    while (end < header.size() && std::isalpha(static_cast<unsigned char>(header[end]))) ++end;
    return header.substr(at, end - at);
  }
  DEFTNN_CHECK(at < header.size() && header[at] == open, "{}: .npy header's '{}' does not start with {}", path, key,
               open);
  const size_t end = header.find(close, at + 1);
  DEFTNN_CHECK(end != std::string::npos, "{}: .npy header's '{}' has no closing {}", path, key, close);
  return header.substr(at + 1, end - at - 1);
}

}  // namespace

std::string npy_header_f32(const Shape& shape) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ",";
  if (shape.size() > 1) dims.pop_back();  // (3,) for one dimension, (3, 4) otherwise
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  constexpr size_t kPrefix = 10;  // magic (6), version (2), header length (2)
  constexpr size_t kAlign = 64;
  const size_t total = (kPrefix + dict.size() + 1 + kAlign - 1) / kAlign * kAlign;
  dict.append(total - kPrefix - dict.size() - 1, ' ');
  dict += '\n';
  DEFTNN_CHECK(dict.size() <= 0xffff, "npy header of {} bytes for shape {} (version 1.0 allows 65535)", dict.size(),
               shape_str(shape));
  std::string h = "\x93NUMPY";
  h += char(1);
  h += char(0);
  h += char(dict.size() & 0xff);
  h += char(dict.size() >> 8);
  return h + dict;
}

void write_npy(const std::string& path, const Tensor& t) {
  DEFTNN_CHECK(t.defined() && t.dtype() == DType::F32 && t.device() == Device::CPU,
               "{}: write_npy takes an F32 CPU tensor", path);
  const std::string header = npy_header_f32(t.shape());
  write_file_atomic(path, {{header.data(), header.size()}, {t.raw(), t.nbytes()}});
}

Tensor read_npy(const std::string& path) {
  const uint64_t size = require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  DEFTNN_CHECK(in.good(), "{}: cannot open for reading", path);
  char prefix[12] = {};
  in.read(prefix, 10);
  DEFTNN_CHECK(in.good() && std::memcmp(prefix, "\x93NUMPY", 6) == 0, "{}: not a .npy file (no \\x93NUMPY magic)",
               path);
  const int major = static_cast<unsigned char>(prefix[6]);
  DEFTNN_CHECK(major >= 1 && major <= 3, "{}: .npy version {} is not supported (1 to 3)", path, major);
  uint64_t header_len = uint8_t(prefix[8]) | uint64_t(uint8_t(prefix[9])) << 8;
  uint64_t offset = 10;
  if (major >= 2) {  // versions 2 and 3: a 4-byte header length
    in.read(prefix + 10, 2);
    header_len |= uint64_t(uint8_t(prefix[10])) << 16 | uint64_t(uint8_t(prefix[11])) << 24;
    offset = 12;
  }
  DEFTNN_CHECK(in.good() && header_len <= (uint64_t(1) << 20) && offset + header_len <= size,
               "{}: .npy header of {} bytes does not fit the file ({} bytes)", path, header_len, size);
  std::string header(header_len, '\0');
  in.read(header.data(), std::streamsize(header_len));
  DEFTNN_CHECK(in.good(), "{}: read error in the .npy header", path);
  const std::string descr = npy_field(path, header, "descr", '\'', '\'');
  DEFTNN_CHECK(descr == "<f4" || descr == "<f8", "{}: .npy dtype '{}' is not supported (float32 '<f4' or float64 '<f8')",
               path, descr.substr(0, 32));
  DEFTNN_CHECK(npy_field(path, header, "fortran_order", 0, 0) == "False",
               "{}: .npy must be in C order ('fortran_order': False)", path);
  const std::string dims = npy_field(path, header, "shape", '(', ')');
  Shape shape;
  int64_t numel = 1;
  for (size_t i = 0; i < dims.size();) {
    if (dims[i] == ',' || std::isspace(static_cast<unsigned char>(dims[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < dims.size() && std::isdigit(static_cast<unsigned char>(dims[j]))) ++j;
    DEFTNN_CHECK(j > i, "{}: .npy shape ({}) holds something other than integers", path, dims.substr(0, 64));
    DEFTNN_CHECK(j - i <= 18, "{}: .npy dimension {} is too large", path, dims.substr(i, 32));
    shape.push_back(std::stoll(dims.substr(i, j - i)));
    DEFTNN_CHECK(!__builtin_mul_overflow(numel, shape.back(), &numel), "{}: .npy shape {} overflows", path,
                 shape_str(shape));
    i = j;
  }
  const uint64_t elem = descr == "<f4" ? 4 : 8;
  DEFTNN_CHECK(uint64_t(numel) <= (size - offset - header_len) / elem &&
                   uint64_t(numel) * elem == size - offset - header_len,
               "{}: .npy shape {} needs {} bytes of data, the file has {}", path, shape_str(shape), numel * elem,
               size - offset - header_len);
  Tensor t = Tensor::empty(shape.empty() ? Shape{1} : shape);
  if (elem == 4) {
    in.read(static_cast<char*>(t.raw()), std::streamsize(numel * 4));
  } else {
    std::vector<double> v(static_cast<size_t>(numel));
    in.read(reinterpret_cast<char*>(v.data()), std::streamsize(numel * 8));
    for (int64_t k = 0; k < numel; ++k) t.data<float>()[k] = float(v[size_t(k)]);
  }
  DEFTNN_CHECK(in.good(), "{}: read error in the .npy data", path);
  return t;
}

}  // namespace deftnn
