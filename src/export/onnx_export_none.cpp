// ONNX export in a build without the ONNX library (libonnx-dev absent when
// CMake ran): a clear error saying how to get a build that writes ONNX.
#include "core/error.h"
#include "export/onnx_export.h"

namespace deftnn::onnx_export {

ExportSummary export_onnx(Net&, const std::string& source, const std::string& path) {
  DEFTNN_FAIL("{}: cannot export {}: this deftnn was built without ONNX (libonnx-dev and libprotobuf-dev were not "
              "found when CMake ran; scripts/install_deps.sh installs them, then rebuild)",
              path, source);
}

}  // namespace deftnn::onnx_export
