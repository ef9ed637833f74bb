// The graph file's JSON door (core/input_file.h: parse_json with its nesting
// limit) and the graph structure reader (graph/graph.h: Graph::parse).
#include "fuzz_input.h"
#include "core/input_file.h"
#include "graph/graph.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean([&] {
    const nlohmann::json j = deftnn::parse_json(text, "fuzz.json");
    (void)deftnn::json_excerpt(j);
    (void)deftnn::Graph::parse(j, "fuzz.json");
  });
  return 0;
}
