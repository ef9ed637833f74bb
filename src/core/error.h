// deftnn::Error and the check macros every library file uses.
//
// Library code throws, never exits: an Error carries the failing statement,
// the file and the line, and a message that names the file, layer or tensor
// at fault. Only the CLI turns an Error into a message and an exit code.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

// nvcc 13 cannot compile fmt 9 in C++20 mode, so .cu files format messages
// with deftnn::detail::format_plain ("{}" placeholders only) and never see fmt.
#ifndef __CUDACC__
#include <fmt/format.h>
#define DEFTNN_FORMAT(...) ::fmt::format(__VA_ARGS__)
#else
#define DEFTNN_FORMAT(...) ::deftnn::detail::format_plain(__VA_ARGS__)
#endif

namespace deftnn {

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, const char* statement, const char* file, int line);
  const std::string& message() const { return message_; }
  const std::string& statement() const { return statement_; }
  const char* file() const { return file_; }
  int line() const { return line_; }

 private:
  std::string message_, statement_;
  const char* file_;
  int line_;
};

// Raised for out-of-memory on either device, so callers (and tests) can tell
// it apart from other failures.
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

namespace detail {
inline void format_plain_rest(std::ostringstream& os, const char* f) { os << f; }
template <class T, class... Rest>
void format_plain_rest(std::ostringstream& os, const char* f, const T& v, const Rest&... rest) {
  for (; *f; ++f) {
    if (f[0] == '{' && f[1] == '}') {
      os << v;
      return format_plain_rest(os, f + 2, rest...);
    }
    os << *f;
  }
}
template <class... Args>
std::string format_plain(const char* f, const Args&... args) {
  std::ostringstream os;
  format_plain_rest(os, f, args...);
  return os.str();
}
}  // namespace detail

}  // namespace deftnn

// DEFTNN_CHECK(cond, "fmt {}", args...): throw deftnn::Error unless cond holds.
#define DEFTNN_CHECK(cond, ...)                                                              \
  do {                                                                                       \
    if (!(cond)) throw ::deftnn::Error(DEFTNN_FORMAT(__VA_ARGS__), #cond, __FILE__, __LINE__);   \
  } while (0)

// DEFTNN_FAIL("fmt {}", args...): throw unconditionally.
#define DEFTNN_FAIL(...) throw ::deftnn::Error(DEFTNN_FORMAT(__VA_ARGS__), "", __FILE__, __LINE__)
