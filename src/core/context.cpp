#include "core/context.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/tensor.h"

#ifdef DEFTNN_WITH_CUDA
#include <cudnn.h>

#include "core/cuda_check.h"
#endif

namespace deftnn {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

Device device_from_name(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda" || name == "gpu") return Device::CUDA;
  DEFTNN_FAIL("unknown device '{}' (known: cpu, cuda)", name);
}

std::string cuda_unavailable_reason() {
#ifdef DEFTNN_WITH_CUDA
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return fmt::format("the driver says: {}", cudaGetErrorString(e));
  }
  if (n == 0) return "the driver reports 0 devices";
  return "";
#else
  return "this build of deftnn has no CUDA support (configured with DEFTNN_CUDA=OFF)";
#endif
}

bool cuda_available() { return cuda_unavailable_reason().empty(); }

std::unique_ptr<Context> Context::cpu() { return std::unique_ptr<Context>(new Context()); }

std::unique_ptr<Context> Context::cuda(int device) {
  std::string why = cuda_unavailable_reason();
  DEFTNN_CHECK(why.empty(), "no usable CUDA GPU ({}); use --device cpu", why);
#ifdef DEFTNN_WITH_CUDA
  std::unique_ptr<Context> c(new Context());
  c->device_ = Device::CUDA;
  c->device_index_ = device;
  DEFTNN_CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t s;
  DEFTNN_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  c->stream_ = s;
  cublasHandle_t h;
  DEFTNN_CUBLAS_CHECK(cublasCreate(&h));
  c->cublas_ = h;
  DEFTNN_CUBLAS_CHECK(cublasSetStream(h, s));
  // The baseline is plain fp32: no TF32 tensor-core math, whatever
  // NVIDIA_TF32_OVERRIDE says. CUBLAS_PEDANTIC_MATH would also forbid
  // reduced-precision reductions but picks slower kernels; DEFAULT_MATH with
  // CUBLAS_COMPUTE_32F (see gemm/cublas_backend.cpp) is plain fp32 FFMA.
  DEFTNN_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
  return c;
#else
  (void)device;
  DEFTNN_FAIL("unreachable");
#endif
}

cudnnContext* Context::cudnn() {
  DEFTNN_CHECK(is_cuda(), "cuDNN needs a CUDA context");
#ifdef DEFTNN_WITH_CUDA
  if (!cudnn_) {
    cudnnHandle_t h;
    DEFTNN_CUDNN_CHECK(cudnnCreate(&h));
    DEFTNN_CUDNN_CHECK(cudnnSetStream(h, stream_));
    cudnn_ = h;
  }
#endif
  return cudnn_;
}

void* Context::workspace(size_t bytes, Scratch slot) {
  void*& ws = workspace_[int(slot)];
  size_t& have = workspace_bytes_[int(slot)];
  if (bytes <= have) return ws;
  // Grow by at least 1.5x so a sequence of slightly larger requests does not
  // reallocate every time.
  size_t want = std::max(bytes, have + have / 2);
  if (is_cuda()) {
#ifdef DEFTNN_WITH_CUDA
    DEFTNN_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (ws) DEFTNN_CUDA_CHECK(cudaFree(ws));
    ws = nullptr;
    have = 0;
    DEFTNN_CUDA_CHECK(cudaMalloc(&ws, want));
#endif
  } else {
    std::free(ws);
    ws = std::aligned_alloc(64, (want + 63) / 64 * 64);
    if (!ws)
      throw OutOfMemory(fmt::format("out of host memory: workspace of {} bytes", want), "aligned_alloc", __FILE__,
                        __LINE__);
    if (poison_host_allocations()) std::memset(ws, 0xff, (want + 63) / 64 * 64);
  }
  have = want;
  return ws;
}

void Context::synchronize() const {
#ifdef DEFTNN_WITH_CUDA
  if (is_cuda()) DEFTNN_CUDA_CHECK(cudaStreamSynchronize(stream_));
#endif
}

Context::~Context() {
#ifdef DEFTNN_WITH_CUDA
  if (is_cuda()) {
    cudaStreamSynchronize(stream_);
    for (auto& st : states_) st.reset();
    for (void* w : workspace_)
      if (w) cudaFree(w);
    if (cudnn_) cudnnDestroy(cudnn_);
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
    return;
  }
#endif
  for (void* w : workspace_) std::free(w);
}

#ifdef DEFTNN_WITH_CUDA
namespace detail {
void throw_cuda(cudaError_t e, const char* stmt, const char* file, int line) {
  int dev = -1;
  cudaGetDevice(&dev);
  std::string msg = fmt::format("CUDA error on device {}: {} ({})", dev, cudaGetErrorString(e),
                                cudaGetErrorName(e));
  if (e == cudaErrorMemoryAllocation) {
    size_t free_b = 0, total_b = 0;
    cudaGetLastError();
    cudaMemGetInfo(&free_b, &total_b);
    throw OutOfMemory(fmt::format("out of GPU memory ({} MiB free of {} MiB): {}", free_b >> 20,
                                  total_b >> 20, msg),
                      stmt, file, line);
  }
  throw Error(msg, stmt, file, line);
}
void throw_cublas(cublasStatus_t s, const char* stmt, const char* file, int line) {
  if (s == CUBLAS_STATUS_ALLOC_FAILED)
    throw OutOfMemory(fmt::format("cuBLAS: out of GPU memory ({})", cublasGetStatusName(s)), stmt, file, line);
  throw Error(fmt::format("cuBLAS error: {} ({})", cublasGetStatusString(s), cublasGetStatusName(s)),
              stmt, file, line);
}
void throw_cudnn(int s, const char* msg, const char* stmt, const char* file, int line) {
  throw Error(fmt::format("cuDNN error {}: {}", s, msg), stmt, file, line);
}
}  // namespace detail
#endif

}  // namespace deftnn
