// The door every file reader goes through before it reads: the path must be
// a regular file (a FIFO would hang the reader, /dev/zero or a directory
// would be read without end), text files are read up to a cap, and JSON is
// parsed with a nesting limit and its library errors turned into deftnn::Error.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace deftnn {

// The most bytes a JSON graph or plan file may hold (the largest model
// graph in models/ is a few KiB).
inline constexpr uint64_t kMaxJsonFileBytes = uint64_t(64) << 20;
// The deepest JSON nesting any deftnn file needs is about 6; a limit far
// above it keeps recursive code (dump, error messages) off the stack's edge.
inline constexpr int kMaxJsonDepth = 128;

// Throws naming `path` unless it names an existing regular file (symlinks
// followed); returns its size in bytes.
uint64_t require_regular_file(const std::string& path);

// The whole file as text, or a throw naming it (not regular, over max_bytes,
// unreadable).
std::string read_text_file(const std::string& path, uint64_t max_bytes = kMaxJsonFileBytes);

// Parses `text` (`what` names it in errors: "<what> is not valid JSON: ...",
// so the path, or "<path>: header") with at most
// kMaxJsonDepth levels of nesting; every nlohmann error (syntax, a number
// out of range such as 1e400) becomes a deftnn::Error.
nlohmann::json parse_json(const std::string& text, const std::string& what);

// `v` as JSON text for an error message, cut to about max_chars (a value
// from a hostile file may be megabytes long).
std::string json_excerpt(const nlohmann::json& v, size_t max_chars = 200);

// The longest layer, tensor or graph name a graph file may give: names end
// up in every message and in model-file tensor names.
inline constexpr size_t kMaxNameLength = 256;

}  // namespace deftnn
