#include "net/npy.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <regex>

#include "core/input_file.h"

#include "net/safetensors.h"

namespace deftnn {

static_assert(std::endian::native == std::endian::little, "write_npy writes the host's floats as '<f4'");

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
  std::smatch m;
  DEFTNN_CHECK(std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")), "{}: .npy header has no 'descr': {}",
               path, header);
  const std::string descr = m[1];
  DEFTNN_CHECK(descr == "<f4" || descr == "<f8", "{}: .npy dtype '{}' is not supported (float32 '<f4' or float64 '<f8')",
               path, descr);
  DEFTNN_CHECK(std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*(True|False))")) && m[1] == "False",
               "{}: .npy must be in C order ('fortran_order': False)", path);
  DEFTNN_CHECK(std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([0-9,\s]*)\))")),
               "{}: .npy header has no 'shape' tuple: {}", path, header);
  Shape shape;
  const std::string dims = m[1];
  const std::regex number("[0-9]+");
  std::sregex_iterator it(dims.begin(), dims.end(), number), end;
  int64_t numel = 1;
  for (; it != end; ++it) {
    const std::string d = it->str();
    DEFTNN_CHECK(d.size() <= 18, "{}: .npy dimension {} is too large", path, d);
    shape.push_back(std::stoll(d));
    DEFTNN_CHECK(!__builtin_mul_overflow(numel, shape.back(), &numel), "{}: .npy shape {} overflows", path,
                 shape_str(shape));
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
