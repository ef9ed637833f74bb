#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "layers/kernels/copy_rows_kernels.h"

namespace deftnn::kernels {

void copy_rows(CUstream_st* stream, void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t width,
               int64_t rows) {
  if (rows == 0 || width == 0) return;
  DEFTNN_CHECK(width <= dst_pitch && width <= src_pitch, "copy_rows: width {} exceeds a pitch ({}, {})", width,
               dst_pitch, src_pitch);
  DEFTNN_CUDA_CHECK(cudaMemcpy2DAsync(dst, size_t(dst_pitch), src, size_t(src_pitch), size_t(width), size_t(rows),
                                      cudaMemcpyDeviceToDevice, stream));
}

}  // namespace deftnn::kernels
