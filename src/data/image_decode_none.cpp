// A build without libpng or libjpeg (CMake found one of them missing): image
// folders are a clear error instead of a decode.
#include "core/error.h"
#include "data/image_folder.h"

namespace deftnn::data {

bool have_image_support() { return false; }

Image decode_image(const std::string& path, int64_t) {
  DEFTNN_FAIL("{}: this deftnn was built without image support (libpng and libjpeg were not both found at build "
              "time); install libpng-dev and libjpeg-dev and rebuild, or give an .npy of inputs", path);
}

}  // namespace deftnn::data
