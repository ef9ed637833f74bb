#include "core/env.h"

#include <cerrno>
#include <cstdlib>

#include "core/error.h"

namespace deftnn {

int64_t env_int(const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const char* e = std::getenv(name);
  if (!e || !*e) return fallback;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(e, &end, 10);
  DEFTNN_CHECK(end != e && *end == '\0' && errno == 0, "environment variable {}='{}' is not an integer", name, e);
  DEFTNN_CHECK(v >= lo && v <= hi, "environment variable {}={} is outside [{}, {}]", name, v, lo, hi);
  return v;
}

}  // namespace deftnn
