#include "core/error.h"

namespace deftnn {

static std::string describe(const std::string& message, const char* statement, const char* file,
                            int line) {
  std::string s = message;
  if (statement && *statement) s += fmt::format(" [check `{}` failed at {}:{}]", statement, file, line);
  else s += fmt::format(" [at {}:{}]", file, line);
  return s;
}

Error::Error(const std::string& message, const char* statement, const char* file, int line)
    : std::runtime_error(describe(message, statement, file, line)),
      message_(message),
      statement_(statement ? statement : ""),
      file_(file),
      line_(line) {}

}  // namespace deftnn
