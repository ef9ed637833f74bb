#include "synapse/sve_state.h"

#include "core/error.h"

namespace deftnn {

const char* sve_transform_name(SveTransform t) {
  switch (t) {
    case SveTransform::Fused: return "fused";
    case SveTransform::Copy: return "copy";
    case SveTransform::Swap: return "swap";
  }
  return "?";
}

SveTransform sve_transform_from_name(const std::string& s) {
  for (SveTransform t : {SveTransform::Fused, SveTransform::Copy, SveTransform::Swap})
    if (s == sve_transform_name(t)) return t;
  DEFTNN_FAIL("unknown SVE input transform '{}' (known: fused, copy, swap)", s);
}

}  // namespace deftnn
