// Where the CLI finds the repository's Python scripts (scripts/NAME) that
// draw its reports' plots: next to the working directory or the executable.
#pragma once

#include <filesystem>
#include <string>

inline std::string find_repo_script(const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (fs::path base : {fs::current_path(), exe.parent_path().parent_path(), exe.parent_path()}) {
    fs::path p = base / "scripts" / name;
    if (fs::exists(p)) return p.string();
  }
  return "";
}
