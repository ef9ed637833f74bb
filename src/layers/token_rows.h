// The shape rule of the transformer layers that work along the last
// dimension: inputs of rank 2 (N, H) or 3 (N, T, H), seen as (rows, H).
#pragma once

#include "layers/layer_util.h"

namespace deftnn {

struct TokenRows {
  int64_t rows = 0, h = 0;
};

// (rows, H) of a rank-2 or rank-3 shape, or a throw naming the layer.
inline TokenRows token_rows(const Layer& l, const Shape& in) {
  DEFTNN_CHECK(in.size() == 2 || in.size() == 3, "{}: needs an (N, H) or (N, T, H) input, got {}", layer_label(l),
               shape_str(in));
  DEFTNN_CHECK(in.back() > 0, "{}: input {} has an empty last dimension", layer_label(l), shape_str(in));
  return {shape_numel(in) / in.back(), in.back()};
}

}  // namespace deftnn
