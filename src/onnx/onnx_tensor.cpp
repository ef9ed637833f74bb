#include "onnx/onnx_tensor.h"

#include <onnx/onnx_pb.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/input_file.h"

namespace deftnn::onnx_import {

namespace {

static_assert(std::endian::native == std::endian::little, "ONNX raw_data is little-endian, as this host");

// The bytes of external data: {location, offset, length} relative to the model's folder.
std::string read_external(const onnx::TensorProto& t, const std::string& model_path, const std::string& what,
                          size_t expected) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    auto number = [&](const std::string& s) {
      size_t used = 0;
      long long v = -1;
      try {
        v = std::stoll(s, &used);
      } catch (const std::exception&) {
      }
      DEFTNN_CHECK(used == s.size() && v >= 0, "{}: external data '{}' must be a non-negative integer, got '{}'",
                   what, kv.key(), s);
      return int64_t(v);
    };
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = number(kv.value());
    else if (kv.key() == "length") length = number(kv.value());
  }
  DEFTNN_CHECK(!location.empty(), "{}: external data without a 'location'", what);
  const std::filesystem::path rel(location);
  bool escapes = rel.is_absolute();
  for (const auto& part : rel) escapes = escapes || part == "..";
  DEFTNN_CHECK(!escapes, "{}: external data location '{}' must be a path below the model's folder", what, location);
  const std::string file = (std::filesystem::path(model_path).parent_path() / rel).string();
  const uint64_t size = require_regular_file(file);
  if (length < 0) length = int64_t(expected);
  DEFTNN_CHECK(uint64_t(length) == expected, "{}: external data length {} but the shape needs {} bytes", what, length,
               expected);
  DEFTNN_CHECK(uint64_t(offset) <= size && uint64_t(length) <= size - uint64_t(offset),
               "{}: external data at offset {} length {} runs past the end of {} ({} bytes)", what, offset, length,
               file, size);
  std::ifstream in(file, std::ios::binary);
  DEFTNN_CHECK(in.good(), "{}: cannot open external data file {}", what, file);
  in.seekg(offset);
  std::string bytes(size_t(length), '\0');
  in.read(bytes.data(), length);
  DEFTNN_CHECK(in.good(), "{}: read error in external data file {}", what, file);
  return bytes;
}

template <class T, class Out>
void from_bytes(const std::string& bytes, std::vector<Out>& out) {
  const size_t n = bytes.size() / sizeof(T);
  out.resize(n);
  for (size_t k = 0; k < n; ++k) {
    T v;
    std::memcpy(&v, bytes.data() + k * sizeof(T), sizeof(T));
    out[k] = Out(v);
  }
}

}  // namespace

OnnxValue decode_tensor(const onnx::TensorProto& t, const std::string& model_path, const std::string& what) {
  OnnxValue v;
  int64_t numel = 1;
  for (int64_t d : t.dims()) {
    DEFTNN_CHECK(d >= 0, "{}: negative dimension {}", what, d);
    DEFTNN_CHECK(!__builtin_mul_overflow(numel, d, &numel) && numel <= (int64_t(1) << 40),
                 "{}: the dimensions' product overflows (more than 2^40 elements)", what);
    v.shape.push_back(d);
  }
  size_t elem = 0;
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT: elem = 4; break;
    case onnx::TensorProto::DOUBLE: elem = 8; break;
    case onnx::TensorProto::INT64: elem = 8; v.is_int = true; break;
    case onnx::TensorProto::INT32: elem = 4; v.is_int = true; break;
    default:
      DEFTNN_FAIL("{}: element type {} is not supported (the importer reads float, double, int64 and int32)", what,
                  onnx::TensorProto::DataType_Name(onnx::TensorProto::DataType(t.data_type())));
  }
  const size_t bytes_needed = size_t(numel) * elem;
  const bool external = t.data_location() == onnx::TensorProto::EXTERNAL;
  if (external || t.has_raw_data()) {
    const std::string bytes = external ? read_external(t, model_path, what, bytes_needed) : t.raw_data();
    DEFTNN_CHECK(bytes.size() == bytes_needed, "{}: raw_data of {} bytes but shape {} needs {}", what, bytes.size(),
                 shape_str(v.shape), bytes_needed);
    switch (t.data_type()) {
      case onnx::TensorProto::FLOAT: from_bytes<float>(bytes, v.floats); break;
      case onnx::TensorProto::DOUBLE: from_bytes<double>(bytes, v.floats); break;
      case onnx::TensorProto::INT64: from_bytes<int64_t>(bytes, v.ints); break;
      default: from_bytes<int32_t>(bytes, v.ints); break;
    }
  } else {
    switch (t.data_type()) {
      case onnx::TensorProto::FLOAT: v.floats.assign(t.float_data().begin(), t.float_data().end()); break;
      case onnx::TensorProto::DOUBLE: v.floats.assign(t.double_data().begin(), t.double_data().end()); break;
      case onnx::TensorProto::INT64: v.ints.assign(t.int64_data().begin(), t.int64_data().end()); break;
      default: v.ints.assign(t.int32_data().begin(), t.int32_data().end()); break;
    }
  }
  DEFTNN_CHECK(v.numel() == numel, "{}: {} elements stored but shape {} needs {} (a missing or truncated tensor)",
               what, v.numel(), shape_str(v.shape), numel);
  return v;
}

Tensor to_f32(const OnnxValue& v) {
  Tensor t = Tensor::empty(v.shape.empty() ? Shape{1} : v.shape);
  float* p = t.data<float>();
  for (int64_t k = 0; k < v.numel(); ++k) p[k] = float(v.at(k));
  return t;
}

}  // namespace deftnn::onnx_import
