#include "net/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"
#include "core/input_file.h"
#include "core/output_file.h"

namespace deftnn {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swaps");

namespace {

using nlohmann::json;

// A file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_str() { return std::strerror(errno); }

// Reads exactly n bytes at offset `at`; false on a short read.
bool read_at(int fd, void* dst, size_t n, uint64_t at) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, off_t(at));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r, n -= size_t(r), at += uint64_t(r);
  }
  return true;
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// Checked product of the dimensions; throws on overflow.
uint64_t checked_numel(const std::string& path, const std::string& name, const Shape& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / uint64_t(d))
      DEFTNN_FAIL("{}: tensor '{}': shape {} overflows", path, name, shape_str(shape));
    n *= uint64_t(d);
  }
  return n;
}

Entry parse_entry(const std::string& path, const std::string& name, const json& v) {
  DEFTNN_CHECK(v.is_object(), "{}: header entry '{}' is not a JSON object", path, name);
  for (auto it = v.begin(); it != v.end(); ++it)
    DEFTNN_CHECK(it.key() == "dtype" || it.key() == "shape" || it.key() == "data_offsets",
                 "{}: tensor '{}': unknown header key '{}' (expected dtype, shape, data_offsets)", path, name,
                 it.key());
  Entry e;
  e.name = name;
  DEFTNN_CHECK(v.contains("dtype") && v["dtype"].is_string(), "{}: tensor '{}': missing or non-string 'dtype'",
               path, name);
  std::string dt = v["dtype"].get<std::string>();
  try {
    e.dtype = dtype_from_name(dt);
  } catch (const Error&) {
    DEFTNN_FAIL("{}: tensor '{}': unknown or unsupported dtype '{}' (supported: F32 F64 F16 BF16 I32 I64 U8 U16 U32)",
                path, name, dt);
  }
  DEFTNN_CHECK(v.contains("shape") && v["shape"].is_array(), "{}: tensor '{}': missing or non-array 'shape'", path,
               name);
  for (const auto& d : v["shape"]) {
    DEFTNN_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
                 "{}: tensor '{}': shape {} has an entry that is not a non-negative integer", path, name,
                 v["shape"].dump());
    e.shape.push_back(d.get<int64_t>());
  }
  DEFTNN_CHECK(v.contains("data_offsets") && v["data_offsets"].is_array() && v["data_offsets"].size() == 2,
               "{}: tensor '{}': 'data_offsets' must be an array [begin, end]", path, name);
  const auto& off = v["data_offsets"];
  DEFTNN_CHECK(off[0].is_number_unsigned() && off[1].is_number_unsigned(),
               "{}: tensor '{}': data_offsets {} are not non-negative integers", path, name, off.dump());
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  DEFTNN_CHECK(e.begin <= e.end, "{}: tensor '{}': data_offsets {} end before they begin", path, name, off.dump());
  uint64_t numel = checked_numel(path, name, e.shape);
  uint64_t want = numel * dtype_size(e.dtype);
  DEFTNN_CHECK(numel == 0 || want / numel == dtype_size(e.dtype), "{}: tensor '{}': size overflows", path, name);
  DEFTNN_CHECK(want == e.end - e.begin,
               "{}: tensor '{}': shape {} x {} ({} bytes each) needs {} bytes but data_offsets {} hold {}", path,
               name, shape_str(e.shape), dtype_name(e.dtype), dtype_size(e.dtype), want, off.dump(),
               e.end - e.begin);
  return e;
}

}  // namespace

TensorFile read_safetensors(const std::string& path) {
  Fd f;
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the S_ISREG
  // check below then rejects it.
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  DEFTNN_CHECK(f.fd >= 0, "{}: cannot open: {}", path, errno_str());
  struct stat st{};
  DEFTNN_CHECK(::fstat(f.fd, &st) == 0, "{}: cannot stat: {}", path, errno_str());
  DEFTNN_CHECK(S_ISREG(st.st_mode), "{}: not a regular file", path);
  uint64_t file_size = uint64_t(st.st_size);
  DEFTNN_CHECK(file_size >= 8, "{}: not a safetensors file: {} bytes, shorter than the 8-byte header size", path,
               file_size);

  unsigned char size_bytes[8];
  DEFTNN_CHECK(read_at(f.fd, size_bytes, 8, 0), "{}: cannot read the header size: {}", path, errno_str());
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | size_bytes[i];
  DEFTNN_CHECK(header_size <= kSafetensorsMaxHeader,
               "{}: not a safetensors file: header size {} is absurd (limit {} bytes)", path, header_size,
               kSafetensorsMaxHeader);
  DEFTNN_CHECK(header_size <= file_size - 8,
               "{}: truncated or corrupt: header size {} is larger than the {} bytes that follow it", path,
               header_size, file_size - 8);

  std::string text(header_size, '\0');
  DEFTNN_CHECK(read_at(f.fd, text.data(), header_size, 8), "{}: cannot read the header: {}", path, errno_str());
  const json header = parse_json(text, path + ": header");
  DEFTNN_CHECK(header.is_object(), "{}: header is JSON but not an object", path);

  TensorFile out;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      DEFTNN_CHECK(it.value().is_object(), "{}: __metadata__ is not a JSON object", path);
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        DEFTNN_CHECK(m.value().is_string(), "{}: __metadata__ value of '{}' is not a string", path, m.key());
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, it.key(), it.value()));
  }

  // The tensors must tile the data block [0, data_size) exactly.
  uint64_t data_size = file_size - 8 - header_size;
  std::vector<const Entry*> by_offset;
  for (const auto& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t at = 0;
  for (const Entry* e : by_offset) {
    DEFTNN_CHECK(e->end <= data_size,
                 "{}: tensor '{}': data_offsets [{}, {}] run past the end of the data ({} bytes); file truncated?",
                 path, e->name, e->begin, e->end, data_size);
    DEFTNN_CHECK(e->begin >= at, "{}: tensor '{}': data_offsets [{}, {}] overlap the previous tensor (ends at {})",
                 path, e->name, e->begin, e->end, at);
    DEFTNN_CHECK(e->begin == at,
                 "{}: tensor '{}': data_offsets [{}, {}] leave a gap after byte {} (tensors must be contiguous)", path,
                 e->name, e->begin, e->end, at);
    at = e->end;
  }
  DEFTNN_CHECK(at == data_size, "{}: the tensors cover {} bytes but the data block holds {} (trailing bytes)", path,
               at, data_size);

  for (const auto& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype, Device::CPU);
    if (e.end > e.begin)
      DEFTNN_CHECK(read_at(f.fd, t.raw(), size_t(e.end - e.begin), 8 + header_size + e.begin),
                   "{}: tensor '{}': cannot read its {} bytes: {}", path, e.name, e.end - e.begin, errno_str());
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

void write_safetensors(const std::string& path, const TensorFile& file, const Context* ctx) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!file.metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : file.metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::vector<Tensor> host;  // keeps host copies alive until written
  uint64_t at = 0;
  for (const auto& [name, t] : file.tensors) {
    DEFTNN_CHECK(t.defined(), "{}: tensor '{}' is undefined", path, name);
    DEFTNN_CHECK(name != "__metadata__", "{}: a tensor may not be named __metadata__", path);
    Tensor h = t;
    if (t.is_cuda()) {
      DEFTNN_CHECK(ctx != nullptr, "{}: tensor '{}' is on the GPU and no Context was given to copy it", path, name);
      h = t.to(Device::CPU, *ctx);
    }
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (int64_t d : t.shape()) shape.push_back(d);
    header[name] = {{"dtype", dtype_name(t.dtype())}, {"shape", shape}, {"data_offsets", {at, at + t.nbytes()}}};
    at += t.nbytes();
    host.push_back(std::move(h));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  // The reader's limit holds for the writer too: never write a file it would refuse.
  DEFTNN_CHECK(text.size() <= kSafetensorsMaxHeader,
               "{}: cannot write: the header (names and metadata) would take {} bytes, over the {} bytes a "
               "safetensors reader accepts (nothing written)",
               path, text.size(), kSafetensorsMaxHeader);
  unsigned char size_bytes[8];
  for (int i = 0; i < 8; ++i) size_bytes[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));
  std::vector<ByteSpan> parts{{size_bytes, 8}, {text.data(), text.size()}};
  for (const auto& h : host)
    if (h.nbytes()) parts.push_back({h.raw(), h.nbytes()});
  write_file_atomic(path, parts);
}

}  // namespace deftnn
