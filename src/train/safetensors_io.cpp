#include "train/safetensors_io.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace deftnn::train {

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DEFTNN_CHECK(in.good(), "{}: cannot open", path);
  in.seekg(0, std::ios::end);
  uint64_t size = uint64_t(in.tellg());
  in.seekg(0);
  unsigned char len_bytes[8];
  DEFTNN_CHECK(size >= 8 && in.read(reinterpret_cast<char*>(len_bytes), 8), "{}: truncated safetensors file", path);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | len_bytes[i];
  DEFTNN_CHECK(hlen <= size - 8, "{}: safetensors header of {} bytes in a file of {}", path, hlen, size);
  std::string header(hlen, '\0');
  in.read(header.data(), std::streamsize(hlen));
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(header);
  } catch (const std::exception& e) {
    DEFTNN_FAIL("{}: bad safetensors header: {}", path, e.what());
  }
  uint64_t data_size = size - 8 - hlen;
  SafetensorsFile f;
  std::vector<std::pair<uint64_t, std::string>> order;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") {
      f.metadata = it.value();
      continue;
    }
    order.push_back({it.value().at("data_offsets").at(0).get<uint64_t>(), it.key()});
  }
  std::sort(order.begin(), order.end());
  std::vector<char> data(data_size);
  in.read(data.data(), std::streamsize(data_size));
  DEFTNN_CHECK(uint64_t(in.gcount()) == data_size, "{}: truncated safetensors data", path);
  for (const auto& [off, name] : order) {
    const auto& e = h.at(name);
    Shape shape = e.at("shape").get<Shape>();
    DType dt = dtype_from_name(e.at("dtype").get<std::string>());
    uint64_t b = e.at("data_offsets").at(0).get<uint64_t>(), end = e.at("data_offsets").at(1).get<uint64_t>();
    Tensor t = Tensor::empty(shape, dt);
    DEFTNN_CHECK(end >= b && end <= data_size && end - b == t.nbytes(), "{}: tensor {} has bad data_offsets", path,
                 name);
    if (t.nbytes()) std::memcpy(t.raw(), data.data() + b, t.nbytes());
    f.tensors.push_back({name, t});
  }
  return f;
}

void write_safetensors(const std::string& path, const SafetensorsFile& file) {
  nlohmann::json h = nlohmann::json::object();
  uint64_t off = 0;
  for (const auto& [name, t] : file.tensors) {
    DEFTNN_CHECK(t.device() == Device::CPU, "write_safetensors: tensor {} is not on the CPU", name);
    h[name] = {{"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {off, off + t.nbytes()}}};
    off += t.nbytes();
  }
  if (!file.metadata.empty()) h["__metadata__"] = file.metadata;
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    DEFTNN_CHECK(out.good(), "{}: cannot write", tmp);
    unsigned char len_bytes[8];
    uint64_t hlen = header.size();
    for (int i = 0; i < 8; ++i) len_bytes[i] = (unsigned char)(hlen >> (8 * i));
    out.write(reinterpret_cast<const char*>(len_bytes), 8);
    out.write(header.data(), std::streamsize(header.size()));
    for (const auto& [name, t] : file.tensors) out.write(static_cast<const char*>(t.raw()), std::streamsize(t.nbytes()));
    out.flush();
    DEFTNN_CHECK(out.good(), "{}: write failed", tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  DEFTNN_CHECK(!ec, "cannot rename {} to {}: {}", tmp, path, ec.message());
}

}  // namespace deftnn::train
