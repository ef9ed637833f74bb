// Shared by the fuzz harnesses: the readers take paths, so each input is
// written to a per-process file (in /dev/shm when there is one) and read
// back through the reader's own door. A deftnn::Error is the expected answer
// to a bad file; any other exception, a crash or a sanitizer report is a bug.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "core/error.h"

namespace fuzz {

inline std::string scratch_dir() {
  static const std::string dir = [] {
    std::string d = (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + std::string("/deftnn-fuzz-") +
                    std::to_string(getpid());
    std::string cmd = "mkdir -p '" + d + "'";
    if (std::system(cmd.c_str()) != 0) std::abort();
    return d;
  }();
  return dir;
}

// Writes data to DIR/name and returns its path.
inline std::string write_input(const uint8_t* data, size_t size, const std::string& name) {
  const std::string path = scratch_dir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// Runs f; a deftnn::Error is a clean refusal, anything else aborts (a finding).
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const deftnn::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "untyped exception: %s\n", e.what());
    std::abort();
  }
}

}  // namespace fuzz
