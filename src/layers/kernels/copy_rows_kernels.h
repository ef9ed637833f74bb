// Strided row copies for concat and split (CUDA; plain types): a library call
// (cudaMemcpy2DAsync), no kernel of our own. All pointers on the device.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace deftnn::kernels {

// Copies `rows` rows of `width` bytes from src (rows `src_pitch` bytes apart)
// to dst (rows `dst_pitch` bytes apart), queued on `stream`.
void copy_rows(CUstream_st* stream, void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t width,
               int64_t rows);

}  // namespace deftnn::kernels
