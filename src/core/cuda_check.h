// Check macros for the CUDA runtime, cuBLAS and cuDNN. Include only from
// files built with DEFTNN_WITH_CUDA. Each failure throws deftnn::Error with
// the statement, the file, the line and the library's own message; an
// allocation failure throws deftnn::OutOfMemory.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/error.h"

namespace deftnn::detail {
[[noreturn]] void throw_cuda(cudaError_t e, const char* stmt, const char* file, int line);
[[noreturn]] void throw_cublas(cublasStatus_t s, const char* stmt, const char* file, int line);
[[noreturn]] void throw_cudnn(int s, const char* msg, const char* stmt, const char* file, int line);
}  // namespace deftnn::detail

#define DEFTNN_CUDA_CHECK(stmt)                                                   \
  do {                                                                            \
    cudaError_t deftnn_e_ = (stmt);                                               \
    if (deftnn_e_ != cudaSuccess)                                                 \
      ::deftnn::detail::throw_cuda(deftnn_e_, #stmt, __FILE__, __LINE__);         \
  } while (0)

// After a kernel launch: reports launch-configuration errors at once.
#define DEFTNN_CUDA_CHECK_LAUNCH() DEFTNN_CUDA_CHECK(cudaGetLastError())

#define DEFTNN_CUBLAS_CHECK(stmt)                                                 \
  do {                                                                            \
    cublasStatus_t deftnn_s_ = (stmt);                                            \
    if (deftnn_s_ != CUBLAS_STATUS_SUCCESS)                                       \
      ::deftnn::detail::throw_cublas(deftnn_s_, #stmt, __FILE__, __LINE__);       \
  } while (0)

#define DEFTNN_CUDNN_CHECK(stmt)                                                            \
  do {                                                                                      \
    cudnnStatus_t deftnn_s_ = (stmt);                                                       \
    if (deftnn_s_ != CUDNN_STATUS_SUCCESS)                                                  \
      ::deftnn::detail::throw_cudnn(int(deftnn_s_), cudnnGetErrorString(deftnn_s_), #stmt,  \
                                    __FILE__, __LINE__);                                    \
  } while (0)
