#include "net/npy.h"

#include <bit>

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

}  // namespace deftnn
