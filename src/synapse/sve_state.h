// The seam between synapse vector elimination and the GEMM layers.
//
// A Conv2d or Linear layer with an active SveState has a truncated weight
// (M, K') whose columns correspond, in order, to rows `kept` of the original
// input matrix X (K, N) (for conv: im2col rows, K = C_in/groups * kh * kw; for
// linear: input features). The K/(K-D) scale is already folded into the
// weight. At run time the layer feeds the GEMM only those K' rows of X, so the
// same inputs as the dense model go in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace deftnn {

// How the input matrix is reduced to its kept rows at run time (section 4.1.1).
// All three feed the GEMM the same K' rows in the same order, so they give the
// same numbers; they differ in the memory traffic before the GEMM (Figure 6).
enum class SveTransform : uint8_t {
  Fused,  // conv: im2col writes only the kept rows (no extra pass). linear: as Copy
          // (its input has no im2col to fuse into).
  Copy,   // conv: im2col writes all K rows, then the kept rows are gathered into a
          // separate (K', n) buffer (Figure 6's "copy"). linear: gather the kept
          // input columns into a (rows, K') buffer.
  Swap,   // swap each misplaced kept row with a misplaced discarded one in place,
          // then use the leading K' rows (the paper's reorder)
};
const char* sve_transform_name(SveTransform t);
SveTransform sve_transform_from_name(const std::string& s);

struct SveState {
  int64_t original_k = 0;       // K before elimination
  std::vector<int32_t> kept;    // K' indices into [0, original_k), the truncated weight's column order
  std::vector<std::pair<int32_t, int32_t>> swaps;  // (kept row >= K', discarded row < K') pairs, for Swap
  SveTransform transform = SveTransform::Fused;
  // Elimination granularity: the rows were kept or dropped in groups of this
  // many consecutive rows (1: single taps / features; conv kh*kw: whole input
  // channels; linear h*w: whole channels of a flattened conv output). Run time
  // ignores it; it is stored, checked (kept is a union of whole groups) and
  // shown by `deftnn inspect`, and export relies on whole channels.
  int64_t group = 1;
  Tensor kept_device;           // `kept` as I32 on the layer's device (set by the layer's to())
  Tensor swaps_device;          // `swaps` flattened as I32 pairs on the layer's device
  bool active() const { return !kept.empty(); }
};

}  // namespace deftnn
