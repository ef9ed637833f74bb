// The ONNX importer (onnx/onnx_import.h): protobuf parsing by the ONNX library,
// its shape inference, then our operator mapping, constant folding and
// initializer reading (in the file or as external data beside it), then the
// graph structure reader on the graph it makes (graph/graph.h: Graph::parse).
#include "fuzz_input.h"
#include "graph/graph.h"
#include "onnx/onnx_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "in.onnx");
  fuzz::expect_clean([&] {
    const deftnn::onnx_import::OnnxModel m = deftnn::onnx_import::import_onnx(path);
    (void)deftnn::Graph::parse(m.graph, path);
  });
  return 0;
}
