#include "core/input_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace deftnn {

uint64_t require_regular_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    DEFTNN_CHECK(errno != ENOENT, "{}: cannot open: no such file", path);
    DEFTNN_FAIL("{}: cannot open: {}", path, std::strerror(errno));
  }
  const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISCHR(st.st_mode)  ? "a character device"
                     : S_ISBLK(st.st_mode)  ? "a block device"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "not a regular file";
  DEFTNN_CHECK(S_ISREG(st.st_mode), "{}: is {}; a regular file is needed", path, kind);
  return uint64_t(st.st_size);
}

std::string read_text_file(const std::string& path, uint64_t max_bytes) {
  const uint64_t size = require_regular_file(path);
  DEFTNN_CHECK(size <= max_bytes, "{}: {} bytes is more than the {} bytes this file may hold", path, size,
               max_bytes);
  std::ifstream f(path, std::ios::binary);
  DEFTNN_CHECK(f.good(), "{}: cannot open: {}", path, std::strerror(errno));
  std::string text(size, '\0');
  f.read(text.data(), std::streamsize(size));
  DEFTNN_CHECK(uint64_t(f.gcount()) == size, "{}: read {} of {} bytes", path, f.gcount(), size);
  return text;
}

nlohmann::json parse_json(const std::string& text, const std::string& what) {
  // The callback sees each value's depth before the parser goes deeper.
  auto limit = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start ||
         event == nlohmann::json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      DEFTNN_FAIL("{}: JSON nested deeper than {} levels", what, kMaxJsonDepth);
    return true;
  };
  try {
    return nlohmann::json::parse(text, limit);
  } catch (const nlohmann::json::exception& e) {
    DEFTNN_FAIL("{} is not valid JSON: {}", what, e.what());
  }
}

std::string json_excerpt(const nlohmann::json& v, size_t max_chars) {
  std::string s = v.dump();
  if (s.size() <= max_chars) return s;
  return DEFTNN_FORMAT("{}... ({} characters)", s.substr(0, max_chars), s.size());
}

}  // namespace deftnn
