// Checks made before any work on a path a subcommand will write (embed, run).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/error.h"

// Fails before any work when OUT cannot be written: its folder must exist
// and be writable, and OUT itself must not be a folder.
inline void check_writable(const std::string& out) {
  namespace fs = std::filesystem;
  const fs::path p(out);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  DEFTNN_CHECK(fs::is_directory(dir, ec), "{}: cannot write: the folder {} does not exist", out, dir.string());
  DEFTNN_CHECK(!fs::is_directory(p, ec), "{}: cannot write: it is a folder", out);
  DEFTNN_CHECK(::access(dir.c_str(), W_OK) == 0, "{}: cannot write: the folder {} is not writable", out,
               dir.string());
}
