// One text per line of a UTF-8 file (the inputs of `deftnn embed`, the
// distillation texts): the lines with a trailing '\r' dropped.
#pragma once

#include <string>
#include <vector>

namespace deftnn::data {

// Throws a deftnn::Error naming the file when it is missing, not a regular
// file, or unreadable. skip_blank: lines of only spaces and tabs are left
// out. An empty result is the caller's to judge (its message says what for).
std::vector<std::string> read_text_lines(const std::string& path, bool skip_blank);

}  // namespace deftnn::data
