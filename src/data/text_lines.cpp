#include "data/text_lines.h"

#include <fstream>

#include "core/error.h"
#include "core/input_file.h"

namespace deftnn::data {

std::vector<std::string> read_text_lines(const std::string& path, bool skip_blank) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  DEFTNN_CHECK(in.good(), "{}: cannot open for reading", path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!skip_blank || line.find_first_not_of(" \t") != std::string::npos) lines.push_back(std::move(line));
  }
  DEFTNN_CHECK(!in.bad(), "{}: read error", path);
  return lines;
}

}  // namespace deftnn::data
