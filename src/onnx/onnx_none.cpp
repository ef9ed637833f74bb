// ONNX import in a build without the ONNX library (libonnx-dev absent when
// CMake ran, e.g. the GPU machine): .onnx paths are still recognised, and
// importing one is a clear error saying how to get a build that reads them.
#include "core/error.h"
#include "onnx/onnx_import.h"

namespace deftnn::onnx_import {

OnnxModel import_onnx(const std::string& path) {
  DEFTNN_FAIL("{}: this deftnn was built without ONNX import (libonnx-dev and libprotobuf-dev were not found when "
              "CMake ran; scripts/install_deps.sh installs them, then rebuild)",
              path);
}

bool is_onnx_path(const std::string& path) {
  const std::string ext = ".onnx";
  return path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}

}  // namespace deftnn::onnx_import
