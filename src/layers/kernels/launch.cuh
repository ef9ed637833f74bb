// Shared by the layer kernels (.cu files only): the 1-D launch shape of
// element-wise kernels and a grid-stride loop.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/cuda_check.h"

namespace deftnn::kernels {

constexpr int kThreads = 256;  // threads per block of every element-wise kernel
constexpr int64_t kMaxBlocks = 65535LL * 16;  // grid-stride loops cover the rest

inline unsigned blocks_for(int64_t n) {
  return unsigned(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

#define DEFTNN_GRID_LOOP(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

}  // namespace deftnn::kernels
